"""what DICOM queries (QIDO-RS, C-FIND) return and match on, kept in the catalog

- ``session.study_id`` and ``prearchive_session.study_id``: Study ID (0020,0010);
- ``scan.series_date``, ``scan.series_time``: Series Date and Time (0008,0021/0031);
- ``dicom_instance.rows``, ``columns``, ``bits_allocated``, ``series_date``,
  ``series_time``: what an instance search returns, read with the rest of the header;
- indexes on ``session.patient_id`` and ``session.patient_name``.

The counts a search returns (series and instances of a study, instances of a series) are
not stored: they are counted for the page of results only, from the indexes on
``scan.session_id`` and ``dicom_instance.scan_id``, and so are always right whatever
deletes or replaces instances. Nothing here can be computed from other rows for the rows
already held (the values are in the files only): they stay NULL, which a search answers as
an empty value, until the instances arrive again.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# Plain ALTER TABLE both ways, never a batch rebuild (see 0009).

_INSTANCE = (
    ("rows", sa.Integer()),
    ("columns", sa.Integer()),
    ("bits_allocated", sa.Integer()),
    ("series_date", sa.Date()),
    ("series_time", sa.Time()),
)


def upgrade() -> None:
    op.add_column("session", sa.Column("study_id", sa.String(16), nullable=True))
    op.add_column("prearchive_session", sa.Column("study_id", sa.String(16), nullable=True))
    op.add_column("scan", sa.Column("series_date", sa.Date(), nullable=True))
    op.add_column("scan", sa.Column("series_time", sa.Time(), nullable=True))
    for name, kind in _INSTANCE:
        op.add_column("dicom_instance", sa.Column(name, kind, nullable=True))
    op.create_index("ix_session_patient_id", "session", ["patient_id"])
    op.create_index("ix_session_patient_name", "session", ["patient_name"])


def downgrade() -> None:
    op.drop_index("ix_session_patient_name", table_name="session")
    op.drop_index("ix_session_patient_id", table_name="session")
    for name, _kind in reversed(_INSTANCE):
        op.drop_column("dicom_instance", name)
    op.drop_column("scan", "series_time")
    op.drop_column("scan", "series_date")
    op.drop_column("prearchive_session", "study_id")
    op.drop_column("session", "study_id")
