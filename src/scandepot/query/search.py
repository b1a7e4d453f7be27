"""The query engine's entry points: a :class:`Query` and :func:`search` (or :func:`page`).

Matching (see :mod:`.matching`) runs as SQL on the catalog in the caller's
:class:`~scandepot.query.scope.Scope`. Only archived instances exist for a query (an
instance with its scan and file); the prearchive does not. In the site-wide view a study
archived in several projects the caller may read is one study: its attributes are those
of one matching copy (the first archived), its series and instances the union of the
readable copies (a series or instance held by two copies counted once); nothing of a
project the caller may not read is matched, counted or returned.

Results come in a stable order: studies newest first (Study Date, then UID), series by
Series Number, instances by Instance Number, patients by Patient ID.
"""

from __future__ import annotations

from pydicom import Dataset

from scandepot.context import Context
from scandepot.errors import BadRequest
from scandepot.query import levels
from scandepot.query.attributes import ATTRIBUTES, Level, allowed, keyword_of
from scandepot.query.matching import uids
from scandepot.query.request import Page, Query
from scandepot.query.scope import Scope

# The most results one answer holds, and the largest limit and offset accepted.
MAX_RESULTS = 1000
MAX_OFFSET = 2**31 - 1
# Elements of a C-FIND identifier that are no keys: they say how to answer.
_NOT_KEYS = frozenset(
    {
        "QueryRetrieveLevel",
        "SpecificCharacterSet",
        "RetrieveAETitle",
        "TimezoneOffsetFromUTC",
        "QueryRetrieveView",
    }
)


def search(ctx: Context, scope: Scope, query: Query) -> list[Dataset]:
    """Every result of ``query`` (within its limit and offset), one data set each with
    the level's required return attributes, the matched ones and the included ones."""
    return _run(ctx, scope, query, query.limit).results


def page(ctx: Context, scope: Scope, query: Query) -> Page:
    """One page of results: at most ``query.limit`` and never over :data:`MAX_RESULTS`,
    and whether more remain (QIDO-RS says so in a Warning header)."""
    limit = MAX_RESULTS if query.limit is None else min(query.limit, MAX_RESULTS)
    return _run(ctx, scope, query, limit)


def _run(ctx: Context, scope: Scope, query: Query, limit: int | None) -> Page:
    check(query)
    dialect = ctx.db.engine.dialect.name
    with ctx.db.read() as db:
        found, more = levels.find(db, scope, query, limit, dialect)
    return Page(found, more)


def check(query: Query) -> None:
    """Raise :class:`BadRequest` for what no search can answer: keys unknown or of a
    lower level, UIDs that are no UIDs, a limit or offset out of range."""
    for keyword in query.matches:
        attribute = ATTRIBUTES.get(keyword)
        if attribute is None or not attribute.matchable:
            raise BadRequest(f"{keyword} is not supported as a matching key.", field=keyword)
        if not allowed(keyword, query.level):
            raise BadRequest(
                f"{keyword} is not an attribute of a {query.level.lower()} search.", field=keyword
            )
    if query.study is not None:
        uids(query.study, "StudyInstanceUID")
    if query.series is not None:
        uids(query.series, "SeriesInstanceUID")
    if query.limit is not None and not 0 <= query.limit <= MAX_OFFSET:
        raise BadRequest(f"limit must be from 0 to {MAX_OFFSET}.", field="limit")
    if not 0 <= query.offset <= MAX_OFFSET:
        raise BadRequest(f"offset must be from 0 to {MAX_OFFSET}.", field="offset")


def from_identifier(identifier: Dataset, level: Level) -> Query:
    """The query of a C-FIND identifier at ``level``: every non-empty element is a
    matching key and every element a return key. Keys that cannot be matched on here
    (sequences, attributes the catalog does not keep) are not used for matching and are
    returned empty, as PS3.4 C.4.1.2.1 has it; keys of a lower level than ``level`` are
    left out."""
    matches: dict[str, str] = {}
    include: set[str] = set()
    for element in identifier:
        keyword = element.keyword
        if not keyword or keyword in _NOT_KEYS:
            continue
        include.add(keyword)
        attribute = ATTRIBUTES.get(keyword)
        if attribute is None or not allowed(keyword, level) or element.VR == "SQ":
            continue
        value = _identifier_value(element)
        if value and attribute.matchable:
            matches[keyword] = value
    return Query(level, matches, include=frozenset(include))


def _identifier_value(element: object) -> str:
    value = getattr(element, "value", None)
    if value is None:
        return ""
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value)
    return str(value)


__all__ = ["MAX_RESULTS", "Page", "Query", "from_identifier", "keyword_of", "page", "search"]
