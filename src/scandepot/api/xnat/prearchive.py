"""XNAT's prearchive: ``/data/prearchive/projects[/{project}]`` (ResultSet listings),
``/data/prearchive/projects/{project}/{timestamp}/{session}`` (one entry: GET, DELETE,
``?format=zip``) and its ``/scans``, over the prearchive operations of ``/api/v1``.
:mod:`scandepot.prearchive.names` says what ``timestamp`` and ``session`` are here."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import PlainTextResponse, StreamingResponse
from starlette.responses import Response

from scandepot.access.actors import Actor
from scandepot.api.xnat import staged
from scandepot.api.xnat.deps import XnatActorDep
from scandepot.api.xnat.results import ColumnsQuery, FormatQuery, render
from scandepot.catalog.prearchive import UNASSIGNED
from scandepot.context import Context
from scandepot.export.archives import Format, Member, stream
from scandepot.http.deps import get_ctx
from scandepot.prearchive import names, operations

router = APIRouter()

ENTRY = "/prearchive/projects/{project}/{timestamp}/{session}"
CtxDep = Annotated[Context, Depends(get_ctx)]


def _name(project: str, timestamp: str, session: str) -> names.Name:
    return names.Name(project, timestamp, session)


NameDep = Annotated[names.Name, Depends(_name)]


@router.get("/prearchive/projects")
def list_all(
    ctx: CtxDep, actor: XnatActorDep, format: FormatQuery = None, columns: ColumnsQuery = None
) -> Response:
    """Every staged session the caller works on, unassigned ones they may route included."""
    return render(staged.table(operations.list_every(ctx, actor)), format, columns=columns)


@router.get("/prearchive/projects/{project}")
def list_project(
    ctx: CtxDep,
    actor: XnatActorDep,
    project: str,
    format: FormatQuery = None,
    columns: ColumnsQuery = None,
) -> Response:
    """One project's staged sessions (``Unassigned``: those no rule routed)."""
    key = UNASSIGNED if project.lower() == names.UNASSIGNED_NAME.lower() else project
    views = operations.list_every(ctx, actor, project=key)
    return render(staged.table(views), format, columns=columns)


def _zip(ctx: Context, actor: Actor, name: names.Name) -> StreamingResponse:
    started = time.time_ns()
    found = operations.staged_files(ctx, actor, names.find(ctx, actor, name))
    members = [
        Member(
            f"{name.folder}/SCANS/{f.scan}/DICOM/{f.SOPInstanceUID}.dcm",
            f.size,
            f.received_at,
            path=str(f.path),
            crc32=f.crc32,
        )
        for f in found
    ]
    return StreamingResponse(
        stream(Format.ZIP, members, started),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name.folder}.zip"'},
    )


@router.get(ENTRY)
def get_entry(
    ctx: CtxDep,
    actor: XnatActorDep,
    name: NameDep,
    format: FormatQuery = None,
    columns: ColumnsQuery = None,
) -> Response:
    """The entry's row of the listing; ``format=zip``: its files (SCANS/{scan}/DICOM)."""
    if (format or "").lower() == "zip":
        return _zip(ctx, actor, name)
    return render(staged.table([names.get(ctx, actor, name)]), format, columns=columns)


@router.delete(ENTRY, response_class=PlainTextResponse)
def delete_entry(ctx: CtxDep, actor: XnatActorDep, name: NameDep) -> str:
    operations.delete(ctx, actor, names.find(ctx, actor, name))
    return ""


@router.get(ENTRY + "/scans")
def list_scans(
    ctx: CtxDep,
    actor: XnatActorDep,
    name: NameDep,
    format: FormatQuery = None,
    columns: ColumnsQuery = None,
) -> Response:
    return render(staged.scans_table(names.get(ctx, actor, name)), format, columns=columns)
