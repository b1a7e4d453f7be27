"""De-identification: project scripts by version, pseudonym keys and tables, a session's script

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import scandepot.db.base

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "deid_key",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("secret", sa.String(length=64), nullable=False),
        sa.Column("created_at", scandepot.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_deid_key_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("project_id", name=op.f("pk_deid_key")),
    )
    op.create_table(
        "deid_script",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("pixel_text", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", scandepot.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_deid_script_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deid_script")),
        sa.UniqueConstraint(
            "project_id",
            "purpose",
            "version",
            name=op.f("uq_deid_script_project_id_purpose_version"),
        ),
    )
    with op.batch_alter_table("deid_script", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_deid_script_project_id"), ["project_id"], unique=False)

    op.create_table(
        "pseudonym",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("original", sa.String(length=255), nullable=False),
        sa.Column("pseudonym", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_pseudonym_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pseudonym")),
        sa.UniqueConstraint(
            "project_id", "kind", "original", name=op.f("uq_pseudonym_project_id_kind_original")
        ),
        sa.UniqueConstraint(
            "project_id", "kind", "pseudonym", name=op.f("uq_pseudonym_project_id_kind_pseudonym")
        ),
    )
    with op.batch_alter_table("pseudonym", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pseudonym_project_id"), ["project_id"], unique=False)

    with op.batch_alter_table("session", schema=None) as batch_op:
        batch_op.add_column(sa.Column("deid", sa.String(length=96), nullable=True))


def downgrade() -> None:

    with op.batch_alter_table("session", schema=None) as batch_op:
        batch_op.drop_column("deid")

    with op.batch_alter_table("pseudonym", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pseudonym_project_id"))

    op.drop_table("pseudonym")
    with op.batch_alter_table("deid_script", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deid_script_project_id"))

    op.drop_table("deid_script")
    op.drop_table("deid_key")
