"""prearchive: staged sessions numbered from a counter, never reusing a number

SQLite reuses the highest row ID once its row is deleted; a staged session's number names
its spool folder, which archiving or deleting the previous holder of the number removes
after its commit. Numbers now come from the counter table, starting after the highest in
use.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "INSERT INTO counter (name, value) "
        "SELECT 'prearchive', COALESCE(MAX(id), 0) FROM prearchive_session"
    )


def downgrade() -> None:
    op.execute("DELETE FROM counter WHERE name = 'prearchive'")
