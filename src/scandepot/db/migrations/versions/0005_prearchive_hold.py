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


def upgrade() -> None:
    with op.batch_alter_table("prearchive_session") as batch:
        batch.add_column(sa.Column("hold", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("prearchive_session") as batch:
        batch.drop_column("hold")
