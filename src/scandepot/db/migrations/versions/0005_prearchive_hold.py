"""prearchive: staged sessions held for an explicit archive request

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


# Plain ALTER TABLE, not a batch rebuild: on SQLite a rebuild drops prearchive_session,
# and with foreign keys on that deletes every staged instance (ON DELETE CASCADE).


def upgrade() -> None:
    op.add_column(
        "prearchive_session",
        sa.Column("hold", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    op.drop_column("prearchive_session", "hold")  # SQLite 3.35 or newer
