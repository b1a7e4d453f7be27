"""/api/v1/projects/{project}/import: a zip, tar or tar.gz of DICOM into a project, and
/api/v1/projects/{project}/held: what a resumed upload need not send again."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from scandepot.api.bodies import stream_body
from scandepot.api.deps import ActorDep, CtxDep
from scandepot.ingest import held, upload
from scandepot.ingest.modes import Destination, Options, Overwrite

router = APIRouter(prefix="/projects/{project}", tags=["uploads"])

API = "/api/v1"
MAX_HELD_QUERY = 5000


class SkippedOut(BaseModel):
    name: str
    reason: str


class ImportedOut(BaseModel):
    project: str
    subject: str | None
    session: str | None
    StudyInstanceUID: str
    status: str  # "archived", or the staged session's status (READY, CONFLICT, ...)
    staged_id: int | None  # while in the prearchive
    session_id: str | None  # once archived (SD_E...)
    files: int
    added: int
    scans: list[dict[str, Any]]
    problems: list[str]
    url: str


class HeldPlaceOut(BaseModel):
    """A session that held some of the upload's files already (nothing added to it)."""

    where: str  # "archive" or "prearchive"
    session_id: str | None  # archived: its site-wide ID (SD_E...)
    staged_id: int | None  # staged: its number
    subject: str | None
    session: str | None
    files: int
    url: str


class ImportOut(BaseModel):
    project: str
    destination: str
    files: int  # DICOM files in the upload
    bytes: int  # the upload's size
    dicom_bytes: int  # the DICOM files' size
    sessions: list[ImportedOut]
    skipped: list[SkippedOut]
    held: list[HeldPlaceOut]


def _held_out(project: str, place: held.Place) -> HeldPlaceOut:
    archived = place.kind == held.ARCHIVE
    return HeldPlaceOut(
        where=place.kind,
        session_id=place.ref if archived else None,
        staged_id=None if archived else int(place.ref),
        subject=place.subject,
        session=place.session,
        files=place.files,
        url=f"{API}/projects/{project}/sessions/{place.session}"
        if archived
        else f"{API}/prearchive/{place.ref}",
    )


def _imported_out(entry: upload.Imported) -> ImportedOut:
    done = entry.archived
    if done is not None:
        url = f"{API}/projects/{done.project}/sessions/{done.session}"
    else:
        url = f"{API}/prearchive/{entry.staged_id}"
    return ImportedOut(
        project=entry.project,
        subject=entry.subject,
        session=entry.session,
        StudyInstanceUID=entry.StudyInstanceUID,
        status=entry.status,
        staged_id=None if done else entry.staged_id,
        session_id=done.session_id if done else None,
        files=entry.files,
        added=entry.added,
        scans=entry.scans,
        problems=entry.problems,
        url=url,
    )


@router.post(
    "/import",
    response_model=ImportOut,
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "A zip, tar, tar.gz (tgz), tar.bz2 or tar.xz file, recognised "
            "from its bytes.",
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
)
async def import_archive(
    request: Request,
    ctx: CtxDep,
    actor: ActorDep,
    project: str,
    subject: Annotated[
        str | None, Query(max_length=200, description="Subject label for every file.")
    ] = None,
    session: Annotated[
        str | None, Query(max_length=200, description="Session label (one study only).")
    ] = None,
    destination: Annotated[
        Destination | None, Query(description="Default: the project's upload destination.")
    ] = None,
    overwrite: Annotated[
        Overwrite, Query(description="When the session is archived already.")
    ] = Overwrite.NONE,
    ignore_unparsable: Annotated[
        bool, Query(description="Skip files that are not DICOM instead of refusing.")
    ] = False,
) -> ImportOut:
    options = Options(
        subject=subject,
        session=session,
        destination=destination,
        overwrite=overwrite,
        ignore_unparsable=ignore_unparsable,
    )
    where = await run_in_threadpool(upload.prepare, ctx, actor, project, options)
    # Through storage/ like every file: a full disk is its OutOfSpace, and discard()
    # leaves nothing behind whatever happens.
    body = await run_in_threadpool(ctx.store.stage, hashed=False)
    try:
        await stream_body(request, body.write, ctx.settings.max_upload_bytes)
        body.end()
        result = await run_in_threadpool(
            lambda: upload.run(ctx, actor, project, options, body.tmp_path, destination=where)
        )
    finally:
        await run_in_threadpool(body.discard)
    return ImportOut(
        project=result.project,
        destination=result.destination.value,
        files=result.files,
        bytes=result.size,
        dicom_bytes=result.dicom_size,
        sessions=[_imported_out(s) for s in result.sessions],
        skipped=[SkippedOut(name=s.name, reason=s.reason) for s in result.skipped],
        held=[_held_out(result.project, p) for p in result.held],
    )


class InstanceRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    SOPInstanceUID: str = Field(min_length=1, max_length=64)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class HeldQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    instances: list[InstanceRef] = Field(max_length=MAX_HELD_QUERY)


class HeldOut(BaseModel):
    SOPInstanceUID: str
    sha256: str
    where: str


class HeldAnswer(BaseModel):
    held: list[HeldOut]


@router.post("/held", response_model=HeldAnswer)
def held_instances(ctx: CtxDep, actor: ActorDep, project: str, body: HeldQuery) -> HeldAnswer:
    """Of the instances named, those the project holds with the very same bytes
    (SHA-256), in its prearchive or its archive."""
    found = held.held(ctx, actor, project, ((i.SOPInstanceUID, i.sha256) for i in body.instances))
    return HeldAnswer(
        held=[
            HeldOut(SOPInstanceUID=h.SOPInstanceUID, sha256=h.sha256, where=h.where) for h in found
        ]
    )
