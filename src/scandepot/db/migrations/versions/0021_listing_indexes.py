"""Indexes that keep searches flat as the catalog grows

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06 19:35:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Study searches walk sessions newest first through it (query.walk); it serves
    # date ranges as the index on the date alone did.
    op.create_index(
        "ix_session_date_study", "session", ["date", "study_instance_uid", "id"], unique=False
    )
    op.drop_index("ix_session_date", table_name="session")
    op.create_index(
        "ix_scan_series_order",
        "scan",
        ["series_number", "series_instance_uid", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_scan_series_order", table_name="scan")
    op.create_index("ix_session_date", "session", ["date"], unique=False)
    op.drop_index("ix_session_date_study", table_name="session")
