"""A QIDO-RS request's query parameters (PS3.18 §8.3.4) as a :class:`Query`.

Attributes by keyword or tag (``PatientName=DOE*``, ``00100010=DOE*``), each at most
once; UID lists comma-separated; ``includefield`` repeated or comma-separated (keywords,
tags, or ``all``); ``limit``, ``offset`` (unsigned integers); ``fuzzymatching``
(``true`` or ``false``). Anything else is a :class:`~scandepot.errors.BadRequest`
naming the parameter.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from scandepot.context import Context
from scandepot.errors import BadRequest
from scandepot.query.attributes import ATTRIBUTES, Level, keyword_of
from scandepot.query.scope import Scope
from scandepot.query.search import MAX_OFFSET, Page, Query, page

_LISTS = {"ModalitiesInStudy"}  # comma-separated lists beside the UIDs


def parse(
    level: Level,
    params: Iterable[tuple[str, str]],
    *,
    study: str | None = None,
    series: str | None = None,
) -> Query:
    """The query of a search at ``level`` under ``study`` / ``series`` (the path)."""
    matches: dict[str, str] = {}
    include: set[str] = set()
    everything = False
    limit: int | None = None
    offset, fuzzy = 0, False
    for name, value in params:
        if not name:
            continue  # "?&limit=1": an empty pair, as some viewers send
        if name == "includefield":
            names = [part.strip() for part in value.split(",") if part.strip()]
            everything = everything or "all" in names
            include.update(keyword_of(n, "includefield") for n in names if n != "all")
        elif name == "limit":
            limit = _uint(name, value)
        elif name == "offset":
            offset = _uint(name, value)
        elif name == "fuzzymatching":
            fuzzy = _flag(name, value)
        else:
            _match(matches, name, value)
    chosen: frozenset[str] | Literal["all"] = "all" if everything else frozenset(include)
    return Query(level, matches, study, series, chosen, fuzzy, limit, offset)


def _match(matches: dict[str, str], name: str, value: str) -> None:
    if "." in name:
        raise BadRequest(f"{name}: sequence matching is not supported.", field=name)
    keyword = keyword_of(name)
    if keyword in matches:
        raise BadRequest(f"{name} is given twice.", field=name)
    attribute = ATTRIBUTES.get(keyword)
    if attribute is not None and (attribute.vr == "UI" or keyword in _LISTS):
        value = value.replace(",", "\\")
    matches[keyword] = value


def _uint(name: str, value: str) -> int:
    text = value.strip()
    if not (text.isascii() and text.isdigit()):
        raise BadRequest(f"{name} must be an unsigned integer, not {value!r}.", field=name)
    if len(text) > 12 or int(text) > MAX_OFFSET:
        raise BadRequest(f"{name} must be at most {MAX_OFFSET}.", field=name)
    return int(text)


def _flag(name: str, value: str) -> bool:
    if value not in ("true", "false"):
        raise BadRequest(f"{name} must be true or false, not {value!r}.", field=name)
    return value == "true"


def qido(
    ctx: Context,
    scope: Scope,
    level: Level,
    params: Iterable[tuple[str, str]],
    *,
    study: str | None = None,
    series: str | None = None,
) -> Page:
    """One page of a QIDO-RS search: its parameters read, the search run."""
    return page(ctx, scope, parse(level, params, study=study, series=series))
