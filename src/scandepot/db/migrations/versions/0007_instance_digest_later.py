"""dicom_instance: checksums may come after the instance

The DICOM receiver records an instance (path, size, headers) before it answers the
sender, and its MD5 and SHA-256 when the staged session is built: the sender no longer
waits for two hashes of every instance. NULL means "not computed yet"; building and
archiving fill them in, so an archived instance always has both.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("dicom_instance") as batch:
        batch.alter_column("md5", existing_type=sa.String(length=32), nullable=True)
        batch.alter_column("sha256", existing_type=sa.String(length=64), nullable=True)


def downgrade() -> None:
    # Rows still waiting for their checksums cannot go back to NOT NULL columns; an
    # empty string marks them (nothing compares equal to it).
    op.execute("UPDATE dicom_instance SET md5 = '' WHERE md5 IS NULL")
    op.execute("UPDATE dicom_instance SET sha256 = '' WHERE sha256 IS NULL")
    with op.batch_alter_table("dicom_instance") as batch:
        batch.alter_column("md5", existing_type=sa.String(length=32), nullable=False)
        batch.alter_column("sha256", existing_type=sa.String(length=64), nullable=False)
