"""drop columns nothing reads

``prearchive_session.overwrite`` (overwrite is asked for when archiving, never stored) and
``dicom_instance.note``.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# Plain ALTER TABLE both ways, never a batch rebuild (see 0009): DROP COLUMN needs SQLite
# 3.35 or newer.


def upgrade() -> None:
    op.drop_column("prearchive_session", "overwrite")
    op.drop_column("dicom_instance", "note")


def downgrade() -> None:
    op.add_column("dicom_instance", sa.Column("note", sa.Text(), nullable=True))
    op.add_column(
        "prearchive_session",
        sa.Column("overwrite", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
