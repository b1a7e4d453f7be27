"""file, dicom_instance: a CRC-32 beside MD5 and SHA-256

A zip entry carries the CRC-32 of its bytes (APPNOTE 4.4.7). Kept in the catalog, it lets
a zip download put sizes and CRC in each local header ahead of the bytes (no data
descriptors, which streaming readers such as Java's ZipInputStream refuse for stored
entries) and send the bytes from the file, as tar does. New files get it with their
other checksums; this fills it for the files already archived, reading each once, in
batches. A file that cannot be read (or is not the size catalogued) stays NULL: the zip
writer computes that one as it opens it. Staged instances get theirs when they are
archived.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import os
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import context, op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

BATCH = 500
READ = 1024 * 1024

_file = sa.table(
    "file",
    sa.column("id", sa.Integer),
    sa.column("resource_id", sa.Integer),
    sa.column("path", sa.String),
    sa.column("size", sa.BigInteger),
    sa.column("crc32", sa.BigInteger),
)
_resource = sa.table(
    "resource",
    sa.column("id", sa.Integer),
    sa.column("project_id", sa.Integer),
    sa.column("subject_id", sa.Integer),
    sa.column("session_id", sa.Integer),
    sa.column("scan_id", sa.Integer),
    sa.column("label", sa.String),
)
_labelled = {
    name: sa.table(name, sa.column("id", sa.Integer), sa.column("label", sa.String))
    for name in ("project", "subject", "scan")
}
_session = sa.table(
    "session",
    sa.column("id", sa.Integer),
    sa.column("subject_id", sa.Integer),
    sa.column("label", sa.String),
)


# Plain ALTER TABLE on SQLite too (3.35 and later drop columns): a batch operation would
# copy and drop the table, and dropping "file" with foreign keys on deletes the instances
# that refer to its rows.


def upgrade() -> None:
    for table in ("file", "dicom_instance"):
        op.add_column(table, sa.Column("crc32", sa.BigInteger(), nullable=True))
    # Where the files are: given by scandepot.db.migrate; without it (a bare catalog),
    # nothing is read and every CRC-32 is computed when a zip first needs it.
    archive = context.config.attributes.get("archive")
    if archive is not None:
        fill(op.get_bind(), Path(archive))


def downgrade() -> None:
    for table in ("dicom_instance", "file"):
        op.execute(f"ALTER TABLE {table} DROP COLUMN crc32")


def _rows_after(last_id: int) -> sa.Select[Any]:
    """A batch of files without a CRC-32, with the labels of the folders they are in
    (archive.layout's paths, spelt out here: a migration keeps its own copy of the
    schema it knows)."""
    project, subject, scan = (_labelled[n] for n in ("project", "subject", "scan"))
    r, f, s = _resource, _file, _session
    return (
        sa.select(
            f.c.id,
            f.c.path,
            f.c.size,
            r.c.label,
            project.c.label,
            subject.c.label,
            s.c.label,
            scan.c.label,
        )
        .join(r, r.c.id == f.c.resource_id)
        .join(project, project.c.id == r.c.project_id)
        .outerjoin(s, s.c.id == r.c.session_id)
        .outerjoin(subject, subject.c.id == sa.func.coalesce(r.c.subject_id, s.c.subject_id))
        .outerjoin(scan, scan.c.id == r.c.scan_id)
        .where(f.c.id > last_id, f.c.crc32.is_(None))
        .order_by(f.c.id)
        .limit(BATCH)
    )


def _path(archive: Path, row: Any) -> Path:
    _id, path, _size, resource, project, subject, session, scan = row
    folder: Path = archive / project
    if subject is not None:
        folder = folder / "subjects" / subject
    if session is not None:
        folder = folder / "sessions" / session
    if scan is not None:
        folder = folder / "scans" / scan
    return Path(folder, "resources", resource, "files", path)


def _crc32(path: Path, size: int) -> int | None:
    """The file's CRC-32, or None when it cannot be read or is not ``size`` bytes."""
    crc, read = 0, 0
    try:
        with open(path, "rb", buffering=0) as fh:
            while chunk := fh.read(READ):
                crc = zlib.crc32(chunk, crc)
                read += len(chunk)
    except OSError:
        return None
    return crc if read == size else None


def fill(bind: sa.Connection, archive: Path) -> None:
    """Compute the CRC-32 of every file that has none, a batch of rows at a time."""
    statement = (
        sa.update(_file)
        .where(_file.c.id == sa.bindparam("file_id"))
        .values(crc32=sa.bindparam("new_crc32"))
    )
    last_id = 0
    # zlib releases the GIL over large buffers: two files are read at once.
    with ThreadPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as pool:
        while rows := bind.execute(_rows_after(last_id)).all():
            last_id = rows[-1][0]
            crcs = pool.map(lambda row: _crc32(_path(archive, row), row[2]), rows)
            found = [
                {"file_id": row[0], "new_crc32": crc}
                for row, crc in zip(rows, crcs, strict=True)
                if crc is not None
            ]
            if found:
                bind.execute(statement, found)
