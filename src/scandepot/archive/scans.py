"""Scans: the acquisitions of a session, identified by their scan ID (the Series Number)."""

from __future__ import annotations

from pathlib import PurePosixPath

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session as DBSession

from scandepot.access import audit
from scandepot.access.actors import Actor
from scandepot.access.audit import AuditAction
from scandepot.access.permissions import Action
from scandepot.archive import holds, layout, sessions
from scandepot.archive.relocate import relocations
from scandepot.catalog.archive import Scan, ScanQuality, Session
from scandepot.catalog.labels import by_label, check_label, label_taken
from scandepot.catalog.paging import Page, PageRequest, like, paginate
from scandepot.context import Context
from scandepot.errors import Conflict, NotFound


class ScanFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str | None = None
    type: str | None = Field(default=None, max_length=64)
    SeriesInstanceUID: str | None = None
    SeriesNumber: int | None = Field(default=None, ge=-(2**31), lt=2**31)
    SeriesDescription: str | None = Field(default=None, max_length=64)
    Modality: str | None = Field(default=None, max_length=16)
    BodyPartExamined: str | None = Field(default=None, max_length=16)
    frames: int | None = Field(default=None, ge=0)
    quality: ScanQuality | None = None
    note: str | None = Field(default=None, max_length=10_000)

    @field_validator("SeriesInstanceUID")
    @classmethod
    def _uid(cls, value: str | None) -> str | None:
        return sessions.check_uid(value)


class ScanCreate(ScanFields):
    id: str


def _scan_dir(session: Session, scan: str) -> PurePosixPath:
    return layout.scan_dir(session.project.label, session.subject.label, session.label, scan)


def load(
    db: DBSession, actor: Actor, project: str, session: str, scan: str, action: Action
) -> Scan:
    parent = sessions.load(db, actor, project, session, action)
    found = db.scalar(by_label(select(Scan).where(Scan.session_id == parent.id), Scan.label, scan))
    if found is None:
        raise NotFound(f"Scan '{scan}' not found in session '{session}'.", field="scan")
    return found


def _ensure_free(
    db: DBSession, session: Session, label: str, *, exclude: int | None = None
) -> None:
    scope = Scan.session_id == session.id
    if label_taken(db, Scan.id, Scan.label, scope, label, exclude=exclude):
        raise Conflict(
            f"A scan with ID '{label}' already exists in session '{session.label}'.", field="id"
        )


def get(ctx: Context, actor: Actor, project: str, session: str, scan: str) -> Scan:
    with ctx.db.read() as db:
        return load(db, actor, project, session, scan, Action.READ)


def all_of(ctx: Context, actor: Actor, project: str, session: str) -> list[Scan]:
    """Every scan of a session, by Series Number then ID: one query after the session's."""
    with ctx.db.read() as db:
        parent = sessions.load(db, actor, project, session, Action.READ)
        stmt = select(Scan).where(Scan.session_id == parent.id)
        return list(db.scalars(stmt.order_by(Scan.SeriesNumber, Scan.label, Scan.id)))


def list_scans(
    ctx: Context,
    actor: Actor,
    project: str,
    session: str,
    page: PageRequest,
    *,
    type: str | None = None,
    modality: str | None = None,
    quality: ScanQuality | None = None,
) -> Page[Scan]:
    with ctx.db.read() as db:
        parent = sessions.load(db, actor, project, session, Action.READ)
        stmt = select(Scan).where(Scan.session_id == parent.id)
        if type:
            stmt = stmt.where(like(Scan.type, type))
        if modality:
            stmt = stmt.where(Scan.Modality == modality)
        if quality:
            stmt = stmt.where(Scan.quality == quality.value)
        return paginate(
            db,
            stmt,
            page,
            sort_fields={
                "id": Scan.label,
                "number": Scan.SeriesNumber,
                "type": Scan.type,
                "quality": Scan.quality,
            },
            default_sort="number",
            tiebreak=Scan.id,
        )


def create(ctx: Context, actor: Actor, project: str, session: str, data: ScanCreate) -> Scan:
    label = check_label(data.id, field="id")
    with ctx.db.write() as db:
        parent = sessions.load(db, actor, project, session, Action.CREATE)
        _ensure_free(db, parent, label)
        values = data.model_dump(exclude_none=True, exclude={"id"})
        if "type" not in values and data.SeriesDescription:
            values["type"] = data.SeriesDescription
        scan = Scan(session_id=parent.id, label=label, **values)
        db.add(scan)
        db.flush()
        db.refresh(scan)
        return scan


def update(
    ctx: Context, actor: Actor, project: str, session: str, scan: str, data: ScanFields
) -> Scan:
    changes = data.model_dump(exclude_unset=True)
    new_label = changes.pop("id", None)
    with relocations(ctx) as moves, ctx.db.write() as db:
        found = load(db, actor, project, session, scan, Action.EDIT)
        if new_label is not None and new_label != found.label:
            check_label(new_label, field="id")
            _ensure_free(db, found.session, new_label, exclude=found.id)
            old_dir = _scan_dir(found.session, found.label)
            found.label = new_label
            db.flush()
            moves.move(old_dir, _scan_dir(found.session, new_label))
        for key, value in changes.items():
            if key == "note" and value is None:
                value = ""
            if key == "quality" and value is None:
                value = ScanQuality.USABLE
            setattr(found, key, value)
        return found


def delete(ctx: Context, actor: Actor, project: str, session: str, scan: str) -> None:
    with ctx.db.write() as db:
        found = load(db, actor, project, session, scan, Action.DELETE)
        folder = _scan_dir(found.session, found.label)
        holds.refuse_held(db, actor, holds.of_scan(found.id), doing=f"delete scan '{scan}'")
        db.delete(found)
        audit.record(
            db, actor, AuditAction.SCAN_DELETED, project=project, target=f"{session}/{scan}"
        )
    ctx.store.remove_tree(ctx.archive_path(folder))
