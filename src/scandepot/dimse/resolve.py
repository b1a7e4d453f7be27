"""The instances a C-GET or C-MOVE identifier names (PS3.4 C.4.2.1.4, C.4.3.1.3): the
unique keys of its level (a list of UIDs, or a Patient ID), and those of the levels
above it where given; found through the query engine and retrieval, in the peer's scope,
so that an instance the peer may not read is never named."""

from __future__ import annotations

from collections.abc import Iterable

from pydicom import Dataset

from scandepot.context import Context
from scandepot.errors import Invalid, NotFound
from scandepot.query.attributes import Level
from scandepot.query.scope import Scope
from scandepot.query.search import Query, search
from scandepot.retrieve.instances import Located, locate

_UNIQUE_KEY = {
    Level.PATIENT: "PatientID",
    Level.STUDY: "StudyInstanceUID",
    Level.SERIES: "SeriesInstanceUID",
    Level.IMAGE: "SOPInstanceUID",
}


def instances(ctx: Context, scope: Scope, identifier: Dataset, level: Level) -> list[Located]:
    """Every instance named, each once (a study held by two readable projects is sent
    once); Invalid when the level's unique key is missing."""
    keys = values(identifier, _UNIQUE_KEY[level])
    if not keys:
        raise Invalid(f"{_UNIQUE_KEY[level]} is required at the {level.value} level")
    found: dict[str, Located] = {}
    for item in _located(ctx, scope, identifier, level, keys):
        found.setdefault(item.sop_instance, item)
    return list(found.values())


def values(identifier: Dataset, keyword: str) -> list[str]:
    """The values of a key, one or a list (UID lists: PS3.4 C.2.2.2.2)."""
    element = identifier.get(keyword)
    if element is None or element == "":
        return []
    listed = element if isinstance(element, list | tuple) or _multi(element) else [element]
    return [str(v).strip() for v in listed if str(v).strip()]


def _multi(value: object) -> bool:
    return hasattr(value, "__iter__") and not isinstance(value, str | bytes)


def _located(
    ctx: Context, scope: Scope, identifier: Dataset, level: Level, keys: list[str]
) -> Iterable[Located]:
    studies = values(identifier, "StudyInstanceUID")
    series = values(identifier, "SeriesInstanceUID")
    if level is Level.PATIENT:
        for match in search(ctx, scope, Query(Level.STUDY, {"PatientID": keys[0]})):
            yield from _locate(ctx, scope, str(match.StudyInstanceUID))
    elif level is Level.STUDY:
        for study in keys:
            yield from _locate(ctx, scope, study)
    elif level is Level.SERIES:
        for one in keys:
            for study in studies if len(studies) == 1 else _parents(ctx, scope, level, one):
                yield from _locate(ctx, scope, study, one)
    else:
        wanted = set(keys)
        if len(studies) == 1 and len(series) == 1:
            found = _locate(ctx, scope, studies[0], series[0])
            yield from (item for item in found if item.sop_instance in wanted)
            return
        for one in keys:
            for study in _parents(ctx, scope, level, one):
                yield from _locate(ctx, scope, study, None, one)


def _parents(ctx: Context, scope: Scope, level: Level, uid: str) -> list[str]:
    """The studies holding the series or instance ``uid``, when the peer did not say."""
    query = Query(level, {_UNIQUE_KEY[level]: uid}, include=frozenset({"StudyInstanceUID"}))
    return sorted({str(m.StudyInstanceUID) for m in search(ctx, scope, query)})


def _locate(
    ctx: Context, scope: Scope, study: str, series: str | None = None, instance: str | None = None
) -> list[Located]:
    try:
        return locate(ctx, scope, study, series, instance)
    except NotFound:
        return []
