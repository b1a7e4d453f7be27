"""The visit store as the server serves it, ``/datalad/{project}/...`` (docs/datalad.md):
each visit's tarball, made from the archive on every request, and the four files of its
last deposit, kept under ``datalad/visits/{visit}/`` in the data folder.

Every file is served only while the visit's session exists and the caller may read it
(access/'s one check, through archive's project loader). A deposit is kept by the
session's ID, so a relabel changes nothing; the deposit of a deleted session answers 404
at once and is removed by the next request for it or the next DataLad job.
"""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import select

from scandepot.access import audit
from scandepot.access.actors import Actor
from scandepot.access.audit import AuditAction
from scandepot.catalog.archive import Session
from scandepot.context import Context
from scandepot.datalad import deposit, representation, visits
from scandepot.datalad.tarball import VisitTar, whole
from scandepot.errors import NotFound

FOLDER = "datalad"


def deposits(ctx: Context) -> Path:
    return ctx.store.data_dir / FOLDER / "visits"


def deposit_dir(ctx: Context, visit: str) -> Path:
    return deposits(ctx) / visits.check_visit(visit)


def store_url(ctx: Context) -> str:
    """The base URL the datasets register (``{store_url}/{project}/{visit}_dicom.tar``)."""
    return f"{ctx.settings.public_url.rstrip('/')}/{FOLDER}"


def clone_url(ctx: Context, project: str, visit: str) -> str:
    """What ``datalad clone`` takes for a visit."""
    return representation.annex_url(f"{store_url(ctx)}/{project}/{visit}_")


def visit_tar(ctx: Context, actor: Actor, project: str, visit: str) -> VisitTar:
    """The visit's tarball (:meth:`VisitTar.part` for a range of it), recorded in the
    audit log as a download."""
    started_ns = time.time_ns()
    found = _visit(ctx, actor, project, visit)
    tar = whole(found, started_ns)
    audit.record_now(
        ctx,
        actor,
        AuditAction.DOWNLOAD_ARCHIVE,
        project=project,
        target=found.tar_name,
        format="tar",
        layout="visit",
        files=len(found.files),
        bytes=tar.total,
    )
    return tar


def visit_tar_size(ctx: Context, actor: Actor, project: str, visit: str) -> VisitTar:
    """The tarball without the audit record: for HEAD, which sends no byte of it."""
    return whole(_visit(ctx, actor, project, visit), time.time_ns())


def _visit(ctx: Context, actor: Actor, project: str, visit: str) -> visits.Visit:
    try:
        return visits.get(ctx, actor, project, visit)
    except NotFound:
        _forget_if_deleted(ctx, visit)
        raise


def deposited(ctx: Context, actor: Actor, project: str, name: str) -> Path:
    """The file ``name`` of a visit's deposit (metadata or representation)."""
    visit = _visit_of_name(name)
    if visit is None:
        raise NotFound(f"No file '{name}' in the visit store.", field="name")
    try:
        with ctx.db.read() as db:
            visits.load_session(db, actor, project, visit)
    except NotFound:
        _forget_if_deleted(ctx, visit)
        raise
    path = deposit_dir(ctx, visit) / name
    if not path.is_file():
        raise NotFound(
            f"'{name}' is not made: the project's DataLad pipeline has not run on this visit.",
            field="name",
        )
    return path


def _visit_of_name(name: str) -> str | None:
    for kind in deposit.names("X"):
        suffix = kind[1:]  # "_metadata_tarball.json", "_XDLRA--refs", ...
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return None


def _forget_if_deleted(ctx: Context, visit: str) -> None:
    """Remove the deposit of a session that no longer exists (not one the caller may not
    see: that one stays)."""
    if not visits.VISIT_ID.fullmatch(visit):
        return
    with ctx.db.read() as db:
        exists = db.scalar(select(Session.id).where(Session.stable_id == visit)) is not None
    if not exists:
        ctx.store.remove_tree(deposit_dir(ctx, visit))


def prune(ctx: Context) -> list[str]:
    """Remove the deposits of every deleted session; returns their visit IDs."""
    folder = deposits(ctx)
    if not folder.is_dir():
        return []
    held = {p.name for p in folder.iterdir() if p.is_dir()}
    with ctx.db.read() as db:
        alive = set(db.scalars(select(Session.stable_id).where(Session.stable_id.in_(held))))
    gone = sorted(held - alive)
    for visit in gone:
        ctx.store.remove_tree(folder / visit)
    return gone
