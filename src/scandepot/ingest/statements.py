"""The receiver's statements: the few it runs for every instance, prepared once per
dialect (:mod:`scandepot.db.prepared`) and run on the writer's connection."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from sqlalchemy import Connection, Table, bindparam, func, insert, select, update
from sqlalchemy.engine import Dialect

from scandepot.catalog.archive import Project, Scan, Session
from scandepot.catalog.prearchive import Instance, StagedSession, Status
from scandepot.db.base import UTCDateTime
from scandepot.db.prepared import Prepared

_i = cast(Table, Instance.__table__)
_s = cast(Table, StagedSession.__table__)

# The columns of an instance row the receiver writes, each a bind parameter of its name.
INSTANCE_COLUMNS = (
    "prearchive_id",
    "sop_instance_uid",
    "sop_class_uid",
    "transfer_syntax_uid",
    "study_instance_uid",
    "series_instance_uid",
    "series_number",
    "series_description",
    "modality",
    "body_part_examined",
    "instance_number",
    "number_of_frames",
    "rows",
    "columns",
    "bits_allocated",
    "series_date",
    "series_time",
    "spool_path",
    "size",
    "md5",
    "sha256",
    "crc32",
    "duplicate_of",
    "received_at",
)


@dataclass(frozen=True, slots=True)
class Statements:
    created: Prepared  # a staged session's creation time, as stored
    project: Prepared  # a project by the ID routing gave, ignoring case
    held: Prepared  # the staged instance of a SOP Instance UID in a staged session
    touch: Prepared  # a staged session received something (row unchanged since placed)
    touch_receiving: Prepared  # ... and is receiving again
    spooled: Prepared  # an instance holding a spool name
    fill: Prepared  # an instance's checksums
    archived_series: Prepared  # an archived instance of a series in a project
    archived_copy: Prepared  # the archived instance of a SOP Instance UID in a project
    insert: Prepared  # an instance row


def _staged_session(dialect: Dialect) -> dict[str, Prepared]:
    # Project IDs in routing match ignoring case, as labels do (catalog.labels).
    project = (
        select(Project.id, Project.label)
        .where(func.lower(Project.label) == func.lower(bindparam("label")))
        .order_by(Project.label != bindparam("exact"))
        .limit(1)
    )
    owner = (
        (_s.c.id == bindparam("staged_id"))
        & (_s.c.project_key == bindparam("key"))
        & (_s.c.study_instance_uid == bindparam("study"))
        & (_s.c.created_at == bindparam("created"))
    )
    stamp = {
        "last_received_at": bindparam("now", type_=_s.c.last_received_at.type),
        "updated_at": bindparam("now2", type_=UTCDateTime),
    }
    receiving = {**stamp, "status": Status.RECEIVING.value}
    # "created" is passed back as the created query returned it, unconverted.
    return {
        "created": Prepared(
            select(_s.c.created_at).where(_s.c.id == bindparam("staged_id")), dialect
        ),
        "project": Prepared(project, dialect),
        "touch": Prepared(update(_s).where(owner).values(stamp), dialect, as_stored=("created",)),
        "touch_receiving": Prepared(
            update(_s).where(owner).values(receiving), dialect, as_stored=("created",)
        ),
    }


def _instances(dialect: Dialect) -> dict[str, Prepared]:
    held = select(_i.c.id, _i.c.sha256, _i.c.spool_path, _i.c.size).where(
        _i.c.prearchive_id == bindparam("staged_id"),
        _i.c.sop_instance_uid == bindparam("sop"),
        _i.c.duplicate_of.is_(None),
    )
    fill = (
        update(_i)
        .where(_i.c.id == bindparam("instance_id"))
        .values(
            md5=bindparam("new_md5"), sha256=bindparam("new_sha256"), crc32=bindparam("new_crc32")
        )
    )
    row = insert(_i).values({c: bindparam(c, type_=_i.c[c].type) for c in INSTANCE_COLUMNS})
    spooled = select(_i.c.id).where(_i.c.spool_path == bindparam("spool_path")).limit(1)
    return {
        "held": Prepared(held.limit(1), dialect),
        "spooled": Prepared(spooled, dialect),
        "fill": Prepared(fill, dialect),
        "insert": Prepared(row, dialect),
    }


def _archived(dialect: Dialect) -> dict[str, Prepared]:
    in_project = (
        select(_i.c.sha256)
        .join(Scan, _i.c.scan_id == Scan.id)
        .join(Session, Scan.session_id == Session.id)
        .where(Session.project_id == bindparam("project_id"))
    )
    series = in_project.where(_i.c.series_instance_uid == bindparam("series")).limit(1)
    copy = in_project.where(_i.c.sop_instance_uid == bindparam("sop")).limit(1)
    return {
        "archived_series": Prepared(series, dialect),
        "archived_copy": Prepared(copy, dialect),
    }


_made: dict[str, Statements] = {}


def on(connection: Connection) -> Statements:
    """The statements for ``connection``'s dialect, prepared on first use."""
    dialect = connection.dialect
    found = _made.get(dialect.name)
    if found is None:
        found = _made[dialect.name] = Statements(
            **_staged_session(dialect), **_instances(dialect), **_archived(dialect)
        )
    return found
