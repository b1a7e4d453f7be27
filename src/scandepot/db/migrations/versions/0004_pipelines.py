"""pipelines: per-project pipeline settings and job records

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import scandepot.db.base

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

UTC = scandepot.db.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "pipeline_config",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("pipeline", sa.String(length=32), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("auto_launch", sa.Boolean(), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_pipeline_config_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipeline_config")),
        sa.UniqueConstraint(
            "project_id", "pipeline", name=op.f("uq_pipeline_config_project_id_pipeline")
        ),
    )
    with op.batch_alter_table("pipeline_config", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_pipeline_config_project_id"), ["project_id"], unique=False
        )

    op.create_table(
        "job",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("pipeline", sa.String(length=32), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=True),
        sa.Column("scan_id", sa.Integer(), nullable=True),
        sa.Column("target", sa.String(length=160), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("log", sa.Text(), nullable=False),
        sa.Column("outputs", sa.JSON(), nullable=False),
        sa.Column("versions", sa.JSON(), nullable=False),
        sa.Column("launched_by", sa.String(length=64), nullable=False),
        sa.Column("after_job_id", sa.Integer(), nullable=True),
        sa.Column("rerun_of", sa.Integer(), nullable=True),
        sa.Column("claim", sa.String(length=64), nullable=True),
        sa.Column("worker", sa.String(length=128), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("dispatched_at", UTC, nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("started_at", UTC, nullable=True),
        sa.Column("heartbeat_at", UTC, nullable=True),
        sa.Column("finished_at", UTC, nullable=True),
        sa.ForeignKeyConstraint(
            ["after_job_id"], ["job.id"], name=op.f("fk_job_after_job_id_job"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_job_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["scan_id"], ["scan.id"], name=op.f("fk_job_scan_id_scan"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["session.id"],
            name=op.f("fk_job_session_id_session"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job")),
    )
    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_job_after_job_id"), ["after_job_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_job_project_id"), ["project_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_job_session_id"), ["session_id"], unique=False)
        batch_op.create_index("ix_job_status_id", ["status", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.drop_index("ix_job_status_id")
        batch_op.drop_index(batch_op.f("ix_job_session_id"))
        batch_op.drop_index(batch_op.f("ix_job_project_id"))
        batch_op.drop_index(batch_op.f("ix_job_after_job_id"))
    op.drop_table("job")
    with op.batch_alter_table("pipeline_config", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pipeline_config_project_id"))
    op.drop_table("pipeline_config")
