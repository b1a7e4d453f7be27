"""Every file of a resource, of an owner's resources, or of a session's scans, in one
listing with what each row needs: the resource and scan it is in, its size, digest,
format and content. (:func:`scandepot.archive.files.list_files` pages one resource.)"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Select, select

from scandepot.access.actors import Actor
from scandepot.access.permissions import Action
from scandepot.archive import resources
from scandepot.archive.resources import OwnerRef
from scandepot.catalog.archive import File, Resource, Scan
from scandepot.context import Context
from scandepot.errors import Invalid, NotFound


@dataclass(frozen=True, slots=True)
class Listed:
    resource: str
    resource_id: int
    scan: str | None  # the scan the resource hangs from, if any
    path: str
    size: int
    md5: str
    format: str | None
    content: str | None


def _rows(stmt: Select[Any]) -> Select[Any]:
    return (
        stmt.add_columns(
            Resource.label,
            Resource.id,
            File.path,
            File.size,
            File.md5,
            File.format,
            File.content,
        )
        .join(File, File.resource_id == Resource.id)
        .order_by(Resource.label, File.path)
    )


def _listed(rows: Sequence[Any], *, with_scan: bool) -> list[Listed]:
    if with_scan:
        return [Listed(r[1], r[2], r[0], *r[3:]) for r in rows]
    return [Listed(r[0], r[1], None, *r[2:]) for r in rows]


def of_resource(ctx: Context, actor: Actor, ref: OwnerRef, label: str) -> list[Listed]:
    with ctx.db.read() as db:
        owner = resources.load_owner(db, actor, ref, Action.READ)
        found = resources.find(db, owner, label, ref)
        rows = db.execute(_rows(select().select_from(Resource)).where(Resource.id == found.id))
        return _listed(rows.all(), with_scan=False)


def of_owner(ctx: Context, actor: Actor, ref: OwnerRef) -> list[Listed]:
    """The files of every resource that hangs from the owner itself."""
    with ctx.db.read() as db:
        owner = resources.load_owner(db, actor, ref, Action.READ)
        stmt = _rows(select().select_from(Resource)).where(Resource.parent_key == owner.key)
        return _listed(db.execute(stmt).all(), with_scan=False)


def of_scans(
    ctx: Context, actor: Actor, ref: OwnerRef, scans: tuple[str, ...] | Literal["ALL"]
) -> list[Listed]:
    """The files of the resources of the session's scans: every scan (``"ALL"``) or those
    named, each of which must exist."""
    if ref.session is None or ref.scan is not None:
        raise Invalid("Scans are chosen in a session.", field="scans")
    with ctx.db.read() as db:
        owner = resources.load_owner(db, actor, ref, Action.READ)
        assert owner.session is not None
        stmt = (
            select(Scan.label)
            .select_from(Resource)
            .join(Scan, Resource.scan_id == Scan.id)
            .where(Scan.session_id == owner.session.id)
        )
        if scans != "ALL":
            known = set(
                db.scalars(
                    select(Scan.label).where(
                        Scan.session_id == owner.session.id, Scan.label.in_(scans)
                    )
                )
            )
            missing = [s for s in scans if s not in known]
            if missing:
                names = ", ".join(f"'{s}'" for s in missing)
                raise NotFound(
                    f"Scan(s) {names} not found in session '{owner.session.label}'.",
                    field="scans",
                )
            stmt = stmt.where(Scan.label.in_(scans))
        rows = db.execute(_rows(stmt).order_by(None).order_by(Scan.id, Resource.label, File.path))
        return _listed(rows.all(), with_scan=True)
