"""A released version's validation, access requests and downloads
(docs/dataset-access.md):

/datasets/{dataset}/versions/{version}/validation                     its report; run it again
/datasets/{dataset}/versions/{version}/access-requests                ask; list (owners: all)
/datasets/{dataset}/versions/{version}/access-requests/{request_id}   one request
.../access-requests/{request_id}/approve | refuse | revoke              the owners' decisions
/datasets/{dataset}/versions/{version}/download                       the release's files
/dataset-requests                                                      your own requests

``{dataset}`` is the dataset's site-wide ID (``SD_D00001``) or its name.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from scandepot.api.deps import ActorDep, CtxDep, PageDep
from scandepot.catalog.paging import Page
from scandepot.datasets import access_requests, download, validation
from scandepot.datasets.access_requests import AccessView
from scandepot.export.archives import Format
from scandepot.http.responses import FileBodyResponse

V = "/datasets/{dataset}/versions/{version}"
R = V + "/access-requests/{request_id}"
Version = Annotated[int, Path(ge=1, le=1_000_000, description="The version's number")]
ARCHIVE: dict[int | str, dict[str, Any]] = {
    200: {"content": {f.media_type: {} for f in Format}, "description": "The archive"}
}

router = APIRouter(tags=["datasets"])


class RequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    purpose: str = Field(
        max_length=20_000,
        description=f"What the data is for: {access_requests.PURPOSE_MIN} to "
        f"{access_requests.PURPOSE_MAX} characters.",
    )


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: str = Field(default="", max_length=20_000, description="Told to the requester.")


class RequestOut(BaseModel):
    id: int
    dataset: str
    name: str
    version: int
    user: str
    purpose: str
    state: str
    requested_at: dt.datetime
    decided_by: str | None
    decided_at: dt.datetime | None
    decision_comment: str
    url: str


class RequestPage(BaseModel):
    items: list[RequestOut]
    total: int
    limit: int
    offset: int
    next: str | None = None


def request_out(view: AccessView) -> RequestOut:
    return RequestOut(
        id=view.id,
        dataset=view.dataset,
        name=view.name,
        version=view.version,
        user=view.user,
        purpose=view.purpose,
        state=view.state,
        requested_at=view.requested_at,
        decided_by=view.decided_by,
        decided_at=view.decided_at,
        decision_comment=view.decision_comment,
        url=f"/api/v1/datasets/{view.dataset}/versions/{view.version}/access-requests/{view.id}",
    )


def _page(found: Page[AccessView]) -> RequestPage:
    return RequestPage(
        items=[request_out(v) for v in found.items],
        total=found.total,
        limit=found.limit,
        offset=found.offset,
        next=found.next,
    )


@router.get(V + "/validation")
def get_validation(ctx: CtxDep, actor: ActorDep, dataset: str, version: Version) -> dict[str, Any]:
    """The validation's outcome (pending, passed, failed) and its report, per check with
    the problems itemised: for the dataset's owners and the curators."""
    return validation.report(ctx, actor, dataset, version)


@router.post(V + "/validation", status_code=status.HTTP_202_ACCEPTED)
def run_validation(ctx: CtxDep, actor: ActorDep, dataset: str, version: Version) -> dict[str, Any]:
    """Run a released version's validation again (owners and curators; 409 while it
    runs, or once a curator decided): the report, pending, with its new job."""
    return validation.again(ctx, actor, dataset, version)


@router.post(V + "/access-requests", response_model=RequestOut, status_code=status.HTTP_201_CREATED)
def ask(
    ctx: CtxDep,
    actor: ActorDep,
    dataset: str,
    version: Version,
    body: RequestIn,
    response: Response,
) -> RequestOut:
    """Ask for access to a published version, saying what for (201, its address in
    Location); 409 when it is not published, or you asked already."""
    out = request_out(access_requests.request(ctx, actor, dataset, version, body.purpose))
    response.headers["location"] = out.url
    return out


@router.get(V + "/access-requests", response_model=RequestPage)
def list_requests(
    ctx: CtxDep, actor: ActorDep, dataset: str, version: Version, page: PageDep
) -> RequestPage:
    """The version's access requests: every one for its owners, your own otherwise."""
    return _page(access_requests.of_version(ctx, actor, dataset, version, page))


@router.get(R, response_model=RequestOut)
def get_request(
    ctx: CtxDep, actor: ActorDep, dataset: str, version: Version, request_id: int
) -> RequestOut:
    """One access request, for the version's owners and the requester."""
    return request_out(access_requests.get(ctx, actor, dataset, version, request_id))


@router.post(R + "/approve", response_model=RequestOut)
def approve(
    ctx: CtxDep,
    actor: ActorDep,
    dataset: str,
    version: Version,
    request_id: int,
    body: DecisionIn | None = None,
) -> RequestOut:
    """An owner approves a pending request: the user may download the version."""
    comment = body.comment if body is not None else ""
    found = access_requests.decide(
        ctx, actor, dataset, version, request_id, approve=True, comment=comment
    )
    return request_out(found)


@router.post(R + "/refuse", response_model=RequestOut)
def refuse(
    ctx: CtxDep,
    actor: ActorDep,
    dataset: str,
    version: Version,
    request_id: int,
    body: DecisionIn | None = None,
) -> RequestOut:
    """An owner refuses a pending request."""
    comment = body.comment if body is not None else ""
    found = access_requests.decide(
        ctx, actor, dataset, version, request_id, approve=False, comment=comment
    )
    return request_out(found)


@router.post(R + "/revoke", response_model=RequestOut)
def revoke(
    ctx: CtxDep,
    actor: ActorDep,
    dataset: str,
    version: Version,
    request_id: int,
    body: DecisionIn | None = None,
) -> RequestOut:
    """An owner takes an approval back."""
    comment = body.comment if body is not None else ""
    return request_out(
        access_requests.revoke(ctx, actor, dataset, version, request_id, comment=comment)
    )


@router.get(V + "/download", responses=ARCHIVE, response_class=FileBodyResponse)
def download_version(
    ctx: CtxDep,
    actor: ActorDep,
    dataset: str,
    version: Version,
    format: Annotated[Format, Query(description="zip, tar or tar.gz")] = Format.ZIP,
) -> FileBodyResponse:
    """The release's files, named by their path in the release, with manifest.json first:
    for the owners and approved users while the version is published."""
    made = download.prepare(ctx, actor, dataset, version, format)
    disposition = f'attachment; filename="{made.filename}"'
    return FileBodyResponse(
        made, media_type=made.format.media_type, headers={"content-disposition": disposition}
    )


@router.get("/dataset-requests", response_model=RequestPage)
def my_requests(ctx: CtxDep, actor: ActorDep, page: PageDep) -> RequestPage:
    """Your own access requests, of every dataset, newest first."""
    return _page(access_requests.mine(ctx, actor, page))
