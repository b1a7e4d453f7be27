"""Notifications: the event journal, recipients, choices, webhooks, notices, the outbox

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import scandepot.db.base

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "event_record",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("project", sa.String(length=64), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", scandepot.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("dispatched_at", scandepot.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_record")),
    )
    with op.batch_alter_table("event_record", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_event_record_project"), ["project"], unique=False)
        batch_op.create_index("ix_event_record_waiting", ["dispatched_at", "id"], unique=False)

    op.create_table(
        "notify_alert",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("raised_at", scandepot.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("cleared_at", scandepot.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notify_alert")),
        sa.UniqueConstraint("key", name=op.f("uq_notify_alert_key")),
    )
    op.create_table(
        "notify_notice",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("topic", sa.String(length=16), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("project", sa.String(length=64), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", scandepot.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notify_notice")),
    )
    with op.batch_alter_table("notify_notice", schema=None) as batch_op:
        batch_op.create_index("ix_notify_notice_waiting", ["message_id", "address"], unique=False)

    op.create_table(
        "notify_choice",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=True),
        sa.Column("topic", sa.String(length=16), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_notify_choice_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_notify_choice_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notify_choice")),
        sa.UniqueConstraint(
            "user_id", "project_id", "topic", name=op.f("uq_notify_choice_user_id_project_id_topic")
        ),
    )
    with op.batch_alter_table("notify_choice", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notify_choice_user_id"), ["user_id"], unique=False)

    op.create_table(
        "notify_recipient",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("topics", sa.JSON(), nullable=False),
        sa.Column("created_at", scandepot.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_notify_recipient_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notify_recipient")),
        sa.UniqueConstraint(
            "project_id", "address", name=op.f("uq_notify_recipient_project_id_address")
        ),
    )
    with op.batch_alter_table("notify_recipient", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_notify_recipient_project_id"), ["project_id"], unique=False
        )

    op.create_table(
        "notify_webhook",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("secret", sa.String(length=256), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("description", sa.String(length=255), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", scandepot.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_notify_webhook_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notify_webhook")),
    )
    with op.batch_alter_table("notify_webhook", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_notify_webhook_project_id"), ["project_id"], unique=False
        )

    op.create_table(
        "outbox_message",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=2048), nullable=False),
        sa.Column("webhook_id", sa.Integer(), nullable=True),
        sa.Column("project_id", sa.Integer(), nullable=True),
        sa.Column("topic", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=998), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("message_key", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", scandepot.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("lease_until", scandepot.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("created_at", scandepot.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", scandepot.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_outbox_message_project_id_project"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["webhook_id"],
            ["notify_webhook.id"],
            name=op.f("fk_outbox_message_webhook_id_notify_webhook"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_message")),
        sa.UniqueConstraint("message_key", name=op.f("uq_outbox_message_message_key")),
    )
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_message_due", ["status", "next_attempt_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_outbox_message_project_id"), ["project_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_outbox_message_webhook_id"), ["webhook_id"], unique=False
        )
    _recipients_into_rows()
    # Plain ALTER TABLE, never a batch rebuild (see 0009): DROP COLUMN needs SQLite 3.35.
    op.drop_column("project", "notification_recipients")


def _recipients_into_rows() -> None:
    """Each project's recipient addresses become rows told of archived sessions."""
    bind = op.get_bind()
    project = sa.table(
        "project", sa.column("id", sa.Integer), sa.column("notification_recipients", sa.JSON)
    )
    recipient = sa.table(
        "notify_recipient",
        sa.column("project_id", sa.Integer),
        sa.column("address", sa.String),
        sa.column("topics", sa.JSON),
        sa.column("created_at", scandepot.db.base.UTCDateTime(timezone=True)),
    )
    now = scandepot.db.base.utcnow()
    rows = [
        {"project_id": pid, "address": address, "topics": ["archived"], "created_at": now}
        for pid, addresses in bind.execute(
            sa.select(project.c.id, project.c.notification_recipients)
        )
        for address in dict.fromkeys(addresses or [])
    ]
    if rows:
        bind.execute(recipient.insert(), rows)


def _rows_into_recipients() -> None:
    bind = op.get_bind()
    held: dict[int, list[str]] = {}
    for pid, address in bind.execute(
        sa.text("SELECT project_id, address FROM notify_recipient ORDER BY id")
    ):
        held.setdefault(pid, []).append(address)
    project = sa.table(
        "project", sa.column("id", sa.Integer), sa.column("notification_recipients", sa.JSON)
    )
    for pid, addresses in held.items():
        bind.execute(
            project.update().where(project.c.id == pid).values(notification_recipients=addresses)
        )


def downgrade() -> None:
    op.add_column(
        "project",
        sa.Column("notification_recipients", sa.JSON(), nullable=False, server_default="[]"),
    )
    _rows_into_recipients()
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_message_webhook_id"))
        batch_op.drop_index(batch_op.f("ix_outbox_message_project_id"))
        batch_op.drop_index("ix_outbox_message_due")

    op.drop_table("outbox_message")
    with op.batch_alter_table("notify_webhook", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notify_webhook_project_id"))

    op.drop_table("notify_webhook")
    with op.batch_alter_table("notify_recipient", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notify_recipient_project_id"))

    op.drop_table("notify_recipient")
    with op.batch_alter_table("notify_choice", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notify_choice_user_id"))

    op.drop_table("notify_choice")
    with op.batch_alter_table("notify_notice", schema=None) as batch_op:
        batch_op.drop_index("ix_notify_notice_waiting")

    op.drop_table("notify_notice")
    op.drop_table("notify_alert")
    with op.batch_alter_table("event_record", schema=None) as batch_op:
        batch_op.drop_index("ix_event_record_waiting")
        batch_op.drop_index(batch_op.f("ix_event_record_project"))

    op.drop_table("event_record")
