"""Transfers: shares between projects, copy and move requests with their items

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import scandepot.db.base

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "share",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("target_key", sa.String(length=48), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=True),
        sa.Column("label", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", scandepot.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_share_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["session.id"],
            name=op.f("fk_share_session_id_session"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["subject.id"],
            name=op.f("fk_share_subject_id_subject"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_share")),
        sa.UniqueConstraint(
            "project_id", "kind", "label", name=op.f("uq_share_project_id_kind_label")
        ),
        sa.UniqueConstraint(
            "project_id", "target_key", name=op.f("uq_share_project_id_target_key")
        ),
    )
    with op.batch_alter_table("share", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_share_project_id"), ["project_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_share_session_id"), ["session_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_share_subject_id"), ["subject_id"], unique=False)

    op.create_table(
        "transfer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("source_project_id", sa.Integer(), nullable=True),
        sa.Column("dest_project_id", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("destination", sa.String(length=64), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("message", sa.String(length=1024), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("files_total", sa.Integer(), nullable=False),
        sa.Column("files_done", sa.Integer(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", scandepot.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", scandepot.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", scandepot.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["dest_project_id"],
            ["project.id"],
            name=op.f("fk_transfer_dest_project_id_project"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["job_id"], ["job.id"], name=op.f("fk_transfer_job_id_job"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["source_project_id"],
            ["project.id"],
            name=op.f("fk_transfer_source_project_id_project"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_transfer_user_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transfer")),
    )
    with op.batch_alter_table("transfer", schema=None) as batch_op:
        batch_op.create_index("ix_transfer_created", ["created_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_transfer_dest_project_id"), ["dest_project_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_transfer_source_project_id"), ["source_project_id"], unique=False
        )

    op.create_table(
        "transfer_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("transfer_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("source_session_id", sa.Integer(), nullable=True),
        sa.Column("dest_session_id", sa.Integer(), nullable=True),
        sa.Column("source_subject", sa.String(length=64), nullable=False),
        sa.Column("source_session", sa.String(length=64), nullable=False),
        sa.Column("dest_subject", sa.String(length=64), nullable=False),
        sa.Column("dest_session", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("files", sa.Integer(), nullable=False),
        sa.Column("verified", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dest_session_id"],
            ["session.id"],
            name=op.f("fk_transfer_item_dest_session_id_session"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["source_session_id"],
            ["session.id"],
            name=op.f("fk_transfer_item_source_session_id_session"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["transfer_id"],
            ["transfer.id"],
            name=op.f("fk_transfer_item_transfer_id_transfer"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transfer_item")),
        sa.UniqueConstraint(
            "transfer_id", "position", name=op.f("uq_transfer_item_transfer_id_position")
        ),
    )
    with op.batch_alter_table("transfer_item", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_transfer_item_dest_session_id"), ["dest_session_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_transfer_item_source_session_id"), ["source_session_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_transfer_item_transfer_id"), ["transfer_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("transfer_item", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_transfer_item_transfer_id"))
        batch_op.drop_index(batch_op.f("ix_transfer_item_source_session_id"))
        batch_op.drop_index(batch_op.f("ix_transfer_item_dest_session_id"))

    op.drop_table("transfer_item")
    with op.batch_alter_table("transfer", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_transfer_source_project_id"))
        batch_op.drop_index(batch_op.f("ix_transfer_dest_project_id"))
        batch_op.drop_index("ix_transfer_created")

    op.drop_table("transfer")
    with op.batch_alter_table("share", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_share_subject_id"))
        batch_op.drop_index(batch_op.f("ix_share_session_id"))
        batch_op.drop_index(batch_op.f("ix_share_project_id"))

    op.drop_table("share")
