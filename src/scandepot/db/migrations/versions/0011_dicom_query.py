"""what DICOM queries (QIDO-RS, C-FIND) return and match on, kept in the catalog

- ``session.study_id`` and ``prearchive_session.study_id``: Study ID (0020,0010);
- ``session.timezone_offset_from_utc`` and ``prearchive_session.timezone_offset_from_utc``:
  Timezone Offset From UTC (0008,0201) of the study's first instance;
- ``scan.series_date``, ``scan.series_time``: Series Date and Time (0008,0021/0031);
- ``scan.performed_procedure_step_start_date`` and ``..._time``: Performed Procedure Step
  Start Date and Time (0040,0244/0245), which a series search returns;
- ``dicom_instance.rows``, ``columns``, ``bits_allocated``, ``series_date``,
  ``series_time``, ``performed_procedure_step_start_date`` and ``..._time``: what an
  instance search returns and what its scan takes, read with the rest of the header;
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

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.types import TypeEngine

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# Plain ALTER TABLE both ways, never a batch rebuild (see 0009).

_INSTANCE: tuple[tuple[str, TypeEngine[Any]], ...] = (
    ("rows", sa.Integer()),
    ("columns", sa.Integer()),
    ("bits_allocated", sa.Integer()),
    ("series_date", sa.Date()),
    ("series_time", sa.Time()),
    ("performed_procedure_step_start_date", sa.Date()),
    ("performed_procedure_step_start_time", sa.Time()),
)
_SCAN: tuple[tuple[str, TypeEngine[Any]], ...] = (
    ("series_date", sa.Date()),
    ("series_time", sa.Time()),
    ("performed_procedure_step_start_date", sa.Date()),
    ("performed_procedure_step_start_time", sa.Time()),
)
_SESSION: tuple[tuple[str, TypeEngine[Any]], ...] = (
    ("study_id", sa.String(16)),
    ("timezone_offset_from_utc", sa.String(5)),
)


def upgrade() -> None:
    for table in ("session", "prearchive_session"):
        for name, kind in _SESSION:
            op.add_column(table, sa.Column(name, kind, nullable=True))
    for name, kind in _SCAN:
        op.add_column("scan", sa.Column(name, kind, nullable=True))
    for name, kind in _INSTANCE:
        op.add_column("dicom_instance", sa.Column(name, kind, nullable=True))
    op.create_index("ix_session_patient_id", "session", ["patient_id"])
    op.create_index("ix_session_patient_name", "session", ["patient_name"])


def downgrade() -> None:
    op.drop_index("ix_session_patient_name", table_name="session")
    op.drop_index("ix_session_patient_id", table_name="session")
    for name, _kind in reversed(_INSTANCE):
        op.drop_column("dicom_instance", name)
    for name, _kind in reversed(_SCAN):
        op.drop_column("scan", name)
    for table in ("prearchive_session", "session"):
        for name, _kind in reversed(_SESSION):
            op.drop_column(table, name)
