"""A prearchive entry's scan files, as xnatpy's ``PrearchiveScan.resources``, ``.files``
and ``read_dicom()`` read them: each scan has one resource, ``DICOM``; its files are named
``{SOPInstanceUID}.dcm``. The listings are XNAT's tables, which ignore ``columns=``."""

from __future__ import annotations

import mimetypes
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse
from starlette.responses import Response

from scandepot.access.actors import Actor
from scandepot.api.xnat.deps import XnatActorDep
from scandepot.api.xnat.prearchive import ENTRY, NameDep
from scandepot.api.xnat.results import Cell, FormatQuery, Table, render
from scandepot.api.xnat.staged import DATA
from scandepot.context import Context
from scandepot.errors import NotFound
from scandepot.http.deps import get_ctx
from scandepot.prearchive import names, operations
from scandepot.prearchive.operations import StagedFile

router = APIRouter()

RESOURCE = "DICOM"
SCAN = ENTRY + "/scans/{scan}/resources"
CtxDep = Annotated[Context, Depends(get_ctx)]


def _files(
    ctx: Context, actor: Actor, name: names.Name, scan: str, sop: str | None = None
) -> list[StagedFile]:
    found = operations.staged_files(
        ctx, actor, names.find(ctx, actor, name), scan=scan, SOPInstanceUID=sop
    )
    if not found:
        what = f"file {sop}.dcm of scan {scan}" if sop else f"scan {scan}"
        raise NotFound(f"No {what} in {name.path}.", field="scan")
    return found


def _resource(resource: str) -> None:
    if resource != RESOURCE:
        raise NotFound(f"No resource '{resource[:64]}': a staged scan has {RESOURCE}.")


@router.get(SCAN)
def list_resources(
    ctx: CtxDep, actor: XnatActorDep, name: NameDep, scan: str, format: FormatQuery = None
) -> Response:
    found = _files(ctx, actor, name, scan)
    row: dict[str, Cell] = {
        "label": RESOURCE,
        "file_count": len(found),
        "file_size": sum(f.size for f in found),
    }
    return render(Table.of(("label", "file_count", "file_size"), [row]), format)


@router.get(SCAN + "/{resource}/files")
def list_files(
    ctx: CtxDep,
    actor: XnatActorDep,
    name: NameDep,
    scan: str,
    resource: str,
    format: FormatQuery = None,
) -> Response:
    _resource(resource)
    here = f"{DATA}{name.path}/scans/{scan}/resources/{RESOURCE}/files"
    rows: list[dict[str, Cell]] = [
        {"Name": f"{f.SOPInstanceUID}.dcm", "Size": f.size, "URI": f"{here}/{f.SOPInstanceUID}.dcm"}
        for f in _files(ctx, actor, name, scan)
    ]
    return render(Table.of(("Name", "Size", "URI"), rows), format)


@router.get(SCAN + "/{resource}/files/{file}", response_class=FileResponse)
def get_file(
    ctx: CtxDep, actor: XnatActorDep, name: NameDep, scan: str, resource: str, file: str
) -> Response:
    _resource(resource)
    sop = file.removesuffix(".dcm")
    if sop == file:
        raise NotFound(f"No file '{file[:100]}' in scan {scan}.", field="file")
    (found,) = _files(ctx, actor, name, scan, sop)
    media_type = mimetypes.guess_type(file)[0] or "application/dicom"
    return FileResponse(found.path, media_type=media_type, filename=file)
