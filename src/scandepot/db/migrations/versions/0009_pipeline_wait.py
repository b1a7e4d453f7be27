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


# Plain ALTER TABLE both ways, never a batch rebuild: on SQLite a rebuild drops the table,
# and with foreign keys on that cascades into every subject, session and file of the
# catalog (tests/db/test_migrations.py keeps a catalog through a round trip).


def upgrade() -> None:
    op.add_column(
        "project",
        sa.Column(
            "session_complete_after_min",
            sa.Integer(),
            nullable=False,
            server_default=sa.text("5"),
        ),
    )
    op.add_column("job", sa.Column("scan_ids", sa.JSON(), nullable=True))
    op.add_column("job", sa.Column("not_before", UTC, nullable=True))


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN needs SQLite 3.35 or newer.
    op.drop_column("job", "not_before")
    op.drop_column("job", "scan_ids")
    op.drop_column("project", "session_complete_after_min")
