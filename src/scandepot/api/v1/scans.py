"""/api/v1/projects/{project}/sessions/{session}/scans"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from scandepot.api.deps import ActorDep, CtxDep, PageDep
from scandepot.api.v1.schemas import PageOut, ScanOut, page_out, scan_out
from scandepot.archive import scans
from scandepot.archive.scans import ScanCreate, ScanFields
from scandepot.catalog.archive import ScanQuality

router = APIRouter(prefix="/projects/{project}/sessions/{session}/scans", tags=["scans"])


@router.get("", response_model=PageOut[ScanOut])
def list_scans(
    ctx: CtxDep,
    actor: ActorDep,
    project: str,
    session: str,
    page: PageDep,
    type: Annotated[str | None, Query(max_length=64, description="'*' wildcard")] = None,
    modality: Annotated[str | None, Query(max_length=16)] = None,
    quality: ScanQuality | None = None,
) -> PageOut[ScanOut]:
    found = scans.list_scans(
        ctx, actor, project, session, page, type=type, modality=modality, quality=quality
    )
    return page_out(found, scan_out)


@router.post("", response_model=ScanOut, status_code=status.HTTP_201_CREATED)
def create_scan(
    ctx: CtxDep, actor: ActorDep, project: str, session: str, body: ScanCreate, response: Response
) -> ScanOut:
    out = scan_out(scans.create(ctx, actor, project, session, body))
    response.headers["location"] = out.url
    return out


@router.get("/{scan}", response_model=ScanOut)
def get_scan(ctx: CtxDep, actor: ActorDep, project: str, session: str, scan: str) -> ScanOut:
    return scan_out(scans.get(ctx, actor, project, session, scan))


@router.patch("/{scan}", response_model=ScanOut)
def update_scan(
    ctx: CtxDep, actor: ActorDep, project: str, session: str, scan: str, body: ScanFields
) -> ScanOut:
    return scan_out(scans.update(ctx, actor, project, session, scan, body))


@router.delete("/{scan}", status_code=status.HTTP_204_NO_CONTENT)
def delete_scan(ctx: CtxDep, actor: ActorDep, project: str, session: str, scan: str) -> None:
    scans.delete(ctx, actor, project, session, scan)
