"""/api/v1/catalogue: the public catalogue of published datasets, and its feeds for
harvesters (DCAT-AP and schema.org JSON-LD). Anonymous callers welcome; docs/catalogue.md."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from scandepot.api.deps import ActorDep, CtxDep, PageDep
from scandepot.api.v1.schemas import PageOut, page_out
from scandepot.datasets import catalogue, feed
from scandepot.datasets.catalogue import Entry, PublicVersion, Search

router = APIRouter(prefix="/catalogue", tags=["catalogue"])
JSON_LD = "application/ld+json"
Term = Annotated[str | None, Query(max_length=catalogue.MAX_TERM)]
Number = Annotated[int, Path(ge=1, le=2**31 - 1)]


class EntryOut(BaseModel):
    id: str
    name: str
    version: int
    title: str
    description: str
    keywords: list[str]
    published_at: datetime | None
    counts: dict[str, int | str]
    modalities: list[str]
    body_parts: list[str]
    url: str


class VersionRefOut(BaseModel):
    version: int
    state: str
    published_at: datetime | None
    url: str


class PublicVersionOut(BaseModel):
    id: str
    name: str
    version: int
    state: str
    latest: int | None
    metadata: dict[str, Any]
    aggregates: dict[str, Any] | None
    released_at: datetime | None
    published_at: datetime | None
    versions: list[VersionRefOut]
    url: str


def _entry_out(entry: Entry) -> EntryOut:
    return EntryOut(
        id=entry.stable_id,
        name=entry.name,
        version=entry.number,
        title=entry.title,
        description=entry.description,
        keywords=entry.keywords,
        published_at=entry.published_at,
        counts=entry.counts,
        modalities=entry.modalities,
        body_parts=entry.body_parts,
        url=f"/api/v1/catalogue/{entry.stable_id}/versions/{entry.number}",
    )


def _version_out(view: PublicVersion) -> PublicVersionOut:
    here = f"/api/v1/catalogue/{view.stable_id}/versions"
    return PublicVersionOut(
        id=view.stable_id,
        name=view.name,
        version=view.number,
        state=view.state,
        latest=view.latest,
        metadata=view.meta,
        aggregates=view.aggregates,
        released_at=view.released_at,
        published_at=view.published_at,
        versions=[
            VersionRefOut(
                version=v.number,
                state=v.state,
                published_at=v.published_at,
                url=f"{here}/{v.number}",
            )
            for v in view.versions
        ],
        url=f"{here}/{view.number}",
    )


@router.get("", response_model=PageOut[EntryOut])
def list_datasets(
    ctx: CtxDep,
    actor: ActorDep,
    page: PageDep,
    q: Term = None,
    keyword: Term = None,
    modality: Term = None,
    body_part: Term = None,
) -> PageOut[EntryOut]:
    find = Search(q=q, keyword=keyword, modality=modality, body_part=body_part)
    return page_out(catalogue.search(ctx, actor, find, page), _entry_out)


@router.get("/feeds/dcat", response_class=JSONResponse)
def dcat_feed(
    ctx: CtxDep, actor: ActorDep, page: Annotated[int, Query(ge=1, le=10**6)] = 1
) -> JSONResponse:
    return JSONResponse(feed.dcat_catalogue(ctx, actor, page=page), media_type=JSON_LD)


@router.get("/{dataset}", response_model=PublicVersionOut)
def latest_version(ctx: CtxDep, actor: ActorDep, dataset: str) -> PublicVersionOut:
    return _version_out(catalogue.latest(ctx, actor, dataset))


@router.get("/{dataset}/versions/{number}", response_model=PublicVersionOut)
def one_version(ctx: CtxDep, actor: ActorDep, dataset: str, number: Number) -> PublicVersionOut:
    return _version_out(catalogue.version(ctx, actor, dataset, number))


@router.get("/{dataset}/versions/{number}/dcat", response_class=JSONResponse)
def version_dcat(ctx: CtxDep, actor: ActorDep, dataset: str, number: Number) -> JSONResponse:
    view = catalogue.version(ctx, actor, dataset, number)
    return JSONResponse(feed.dcat_dataset(ctx, view), media_type=JSON_LD)


@router.get("/{dataset}/versions/{number}/schema-org", response_class=JSONResponse)
def version_schema_org(ctx: CtxDep, actor: ActorDep, dataset: str, number: Number) -> JSONResponse:
    view = catalogue.version(ctx, actor, dataset, number)
    return JSONResponse(feed.schema_org(ctx, view), media_type=JSON_LD)
