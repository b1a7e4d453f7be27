"""pipelines wait for a session to be complete

``project.session_complete_after_min``: quiet minutes after the last archived series
before auto-launched pipelines start. ``job.not_before``: a queued job is not claimed
before then. ``job.scan_ids``: the scans an auto-launched job covers (NULL: all).

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import scandepot.db.base

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

UTC = scandepot.db.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("project") as batch:
        batch.add_column(
            sa.Column(
                "session_complete_after_min",
                sa.Integer(),
                nullable=False,
                server_default=sa.text("5"),
            )
        )
    with op.batch_alter_table("job") as batch:
        batch.add_column(sa.Column("scan_ids", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("not_before", UTC, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("job") as batch:
        batch.drop_column("not_before")
        batch.drop_column("scan_ids")
    with op.batch_alter_table("project") as batch:
        batch.drop_column("session_complete_after_min")
