"""The public catalogue: published versions, their descriptive metadata and their stored
aggregates, for everyone, anonymous visitors included (docs/catalogue.md).

Only published versions are listed; a withdrawn one keeps its address, which then says
that it was withdrawn (metadata, no aggregates). Drafts, released, validated and
sent-back versions are not there for anyone: the owners' and curators' pages show them.
Nothing here reads the archive: what is shown was computed at publication
(:mod:`scandepot.datasets.aggregates`) and is read as stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Select, Text, and_, exists, func, or_, select
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session as DBSession
from sqlalchemy.orm import aliased

from scandepot.access import datasets as access
from scandepot.access.actors import Actor
from scandepot.access.datasets import DatasetAction
from scandepot.catalog.datasets import Dataset, DatasetVersion, VersionState
from scandepot.catalog.paging import Page, PageRequest, like, paginate
from scandepot.context import Context
from scandepot.datasets import public_figures, search_terms
from scandepot.errors import Invalid, NotFound, Unauthorized

PUBLISHED = VersionState.PUBLISHED.value
WITHDRAWN = VersionState.WITHDRAWN.value
MAX_TERM = 100


@dataclass(frozen=True, slots=True)
class Entry:
    """A dataset in the catalogue: its latest published version."""

    stable_id: str
    name: str
    number: int
    title: str
    description: str
    keywords: list[str]
    published_at: datetime | None
    counts: dict[str, Any]
    modalities: list[str]
    body_parts: list[str]


@dataclass(frozen=True, slots=True)
class VersionRef:
    number: int
    state: str
    published_at: datetime | None


@dataclass(frozen=True, slots=True)
class PublicVersion:
    """One version as the public sees it; ``aggregates`` is None once withdrawn or once a
    newer version is published (datasets/public_figures.py)."""

    stable_id: str
    name: str
    number: int
    state: str
    meta: dict[str, Any]
    aggregates: dict[str, Any] | None
    released_at: datetime | None
    published_at: datetime | None
    versions: list[VersionRef]

    @property
    def withdrawn(self) -> bool:
        return self.state == WITHDRAWN

    @property
    def latest(self) -> int | None:
        """The newest published version's number."""
        published = [v.number for v in self.versions if v.state == PUBLISHED]
        return max(published) if published else None


@dataclass(frozen=True, slots=True)
class Search:
    q: str | None = None
    keyword: str | None = None
    modality: str | None = None
    body_part: str | None = None

    def __post_init__(self) -> None:
        for name in ("q", "keyword", "modality", "body_part"):
            value = getattr(self, name)
            if value is not None and len(value) > MAX_TERM:
                raise Invalid(f"{name} is at most {MAX_TERM} characters.", field=name)


def search(ctx: Context, actor: Actor, find: Search, page: PageRequest) -> Page[Entry]:
    """The datasets with a published version that match ``find``, one entry each (its
    latest published version), newest first unless ``page.sort`` says otherwise."""
    del actor  # the catalogue is the same for everyone
    v = DatasetVersion
    # Two entities a row: paginate's Select[Any] stands for any row shape.
    stmt = cast(Select[Any], select(v, Dataset).join(Dataset, Dataset.id == v.dataset_id)).where(
        _latest(v)
    )
    for condition in _conditions(find):
        stmt = stmt.where(condition)
    with ctx.db.read() as db:
        found = paginate(
            db,
            stmt,
            page,
            sort_fields={
                "published": v.published_at,
                "name": Dataset.name,
                "id": Dataset.stable_id,
            },
            default_sort="-published",
            tiebreak=v.id,
        )
    items = [_entry(version, dataset) for version, dataset in found.items]
    return found.with_items(items)


def _latest(v: Any) -> ColumnElement[bool]:
    """``v`` is published and no later version of its dataset is."""
    later = aliased(DatasetVersion)
    newer = exists().where(
        later.dataset_id == v.dataset_id, later.state == PUBLISHED, later.number > v.number
    )
    return and_(v.state == PUBLISHED, ~newer)


def _conditions(find: Search) -> list[ColumnElement[bool]]:
    """Each filter a LIKE on the stored aggregates' JSON text (see search_terms)."""
    stored = cast_text(DatasetVersion.aggregates)
    found: list[ColumnElement[bool]] = []
    if find.q and find.q.strip():
        text = find.q.strip()
        in_words = [
            _contains(stored, search_terms.patterns(search_terms.WORD, w, whole=False))
            for w in search_terms.words(text)
        ]
        named = [like(Dataset.stable_id, f"*{text}*"), like(Dataset.name, f"*{text}*")]
        found.append(or_(*named, and_(*in_words)) if in_words else or_(*named))
    for value, kind, fold in (
        (find.keyword, search_terms.KEYWORD, str.lower),
        (find.modality, search_terms.MODALITY, str.upper),
        (find.body_part, search_terms.BODY_PART, str.upper),
    ):
        if value and value.strip():
            found.append(_contains(stored, search_terms.patterns(kind, fold(value))))
    return found


def _contains(column: Any, texts: set[str]) -> ColumnElement[bool]:
    """One of ``texts`` anywhere in ``column`` (LIKE's wildcards taken as plain
    characters)."""
    found = []
    for text in sorted(texts):
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        found.append(func.coalesce(column, "").like(f"%{escaped}%", escape="\\"))
    return or_(*found)


def _entry(version: DatasetVersion, dataset: Dataset) -> Entry:
    meta = version.meta or {}
    aggregates = version.aggregates or {}
    return Entry(
        stable_id=dataset.stable_id,
        name=dataset.name,
        number=version.number,
        title=str(meta.get("title") or dataset.name),
        description=str(meta.get("description") or ""),
        keywords=[str(k) for k in meta.get("keywords") or [] if isinstance(k, str)],
        published_at=version.published_at,
        counts=dict(aggregates.get("counts") or {}),
        modalities=search_terms.values(aggregates, "modalities"),
        body_parts=search_terms.values(aggregates, "body_parts"),
    )


def version(ctx: Context, actor: Actor, ref: str, number: int) -> PublicVersion:
    """Version ``number`` of dataset ``ref`` (its ID or name), published or withdrawn;
    any other state is not there (401 anonymous, 404 otherwise), whoever asks."""
    with ctx.db.read() as db:
        dataset, found = access.load_version(db, actor, ref, number, DatasetAction.VIEW)
        if found.state not in (PUBLISHED, WITHDRAWN):
            raise _absent(actor, f"Dataset '{ref}' has no published version {number}.")
        return _public(db, dataset, found)


def latest(ctx: Context, actor: Actor, ref: str) -> PublicVersion:
    """The newest published version of dataset ``ref``; when every one was withdrawn,
    the newest withdrawn one (which says so)."""
    with ctx.db.read() as db:
        dataset = access.load_dataset(db, actor, ref, DatasetAction.VIEW)
        for state in (PUBLISHED, WITHDRAWN):
            found = db.scalar(
                select(DatasetVersion)
                .where(DatasetVersion.dataset_id == dataset.id, DatasetVersion.state == state)
                .order_by(DatasetVersion.number.desc())
                .limit(1)
            )
            if found is not None:
                return _public(db, dataset, found)
    raise _absent(actor, f"Dataset '{ref}' has no published version.")


def _absent(actor: Actor, message: str) -> Exception:
    return Unauthorized() if actor.is_anonymous else NotFound(message, field="version")


def _public(db: DBSession, dataset: Dataset, found: DatasetVersion) -> PublicVersion:
    versions = [
        VersionRef(number, state, published_at)
        for number, state, published_at in db.execute(
            select(DatasetVersion.number, DatasetVersion.state, DatasetVersion.published_at)
            .where(
                DatasetVersion.dataset_id == dataset.id,
                DatasetVersion.state.in_((PUBLISHED, WITHDRAWN)),
            )
            .order_by(DatasetVersion.number)
        )
    ]
    return PublicVersion(
        stable_id=dataset.stable_id,
        name=dataset.name,
        number=found.number,
        state=found.state,
        meta=dict(found.meta or {}),
        aggregates=public_figures.shown(db, found),
        released_at=found.released_at,
        published_at=found.published_at,
        versions=versions,
    )


def cast_text(column: Any) -> ColumnElement[str]:
    """A JSON column's text as stored (json on PostgreSQL keeps it as given)."""
    return sql_cast(column, Text)
