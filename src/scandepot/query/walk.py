"""One page of distinct UIDs, walked in the order of an index so that a page costs what it
holds, not what the catalog holds.

A search's results are grouped by UID (a study, series or instance held in several
readable projects is one result) and ordered by an attribute of the group: studies by
their latest Study Date, series by their lowest Series Number. Grouping all matches to
sort the groups reads every match; instead the matching rows are walked in the order of
an index on (attribute, UID, ID), a batch at a time, and a UID met again is skipped. A
UID is first met at its latest date (walking dates down) or lowest number (walking
numbers up), which is where its group belongs in the order, so the UIDs come out in the
order of the results. Rows without the attribute come last, by UID.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, func, tuple_
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.orm import Session as DBSession

# Rows read by the first batch when the page is unbounded, and the most any batch reads;
# a bounded page's first batch reads up to its end (offset and all), and each batch after
# the first reads twice as many rows as the one before (copies met again take room).
BATCH = 500
MAX_BATCH = 20_000


@dataclass(frozen=True)
class Order:
    """Results ordered by ``attribute`` (``descending`` or not), then ``uid`` the same
    way; ``id`` tells copies apart, and the copy with the lowest is the group's own."""

    attribute: InstrumentedAttribute[Any]
    uid: InstrumentedAttribute[Any]
    id: InstrumentedAttribute[Any]
    descending: bool


def page(
    db: DBSession, matches: Select[Any], order: Order, offset: int, limit: int | None
) -> tuple[list[tuple[str, int]], bool]:
    """One page of the groups of ``matches`` (a SELECT of the matching rows, joined and
    filtered) as (UID, the lowest ID of its matching copies), and whether more remain."""
    wanted = None if limit is None else offset + limit + 1
    found: list[str] = []
    seen: set[str] = set()
    for uid in _walk(db, matches, order, wanted):
        if uid in seen:
            continue
        seen.add(uid)
        if len(seen) > offset:
            found.append(uid)
        if wanted is not None and len(seen) >= wanted:
            break
    more = limit is not None and len(found) > limit
    found = found[:limit] if limit is not None else found
    first = _first_copies(db, matches, order, found)
    return [(uid, first[uid]) for uid in found], more


def _sorted(column: InstrumentedAttribute[Any], descending: bool) -> ColumnElement[Any]:
    return column.desc() if descending else column.asc()


def _walk(db: DBSession, matches: Select[Any], order: Order, wanted: int | None) -> Iterator[str]:
    """The matching rows' UIDs in the order of the results, copies included."""
    rows_of = matches.with_only_columns(
        order.attribute, order.uid, order.id, maintain_column_froms=True
    )
    first = BATCH if wanted is None else min(wanted + 16, MAX_BATCH)
    # First the rows with the attribute, then those without (by UID).
    for keys in ((order.attribute, order.uid, order.id), (order.uid, order.id)):
        with_it, batch = len(keys) == 3, first
        part = rows_of.where(
            order.attribute.is_not(None) if with_it else order.attribute.is_(None)
        ).order_by(*(_sorted(k, order.descending) for k in keys))
        after: tuple[Any, ...] | None = None
        while True:
            statement = part
            if after is not None:
                key, last = tuple_(*keys), tuple_(*after)
                statement = statement.where(key < last if order.descending else key > last)
            rows = db.execute(statement.limit(batch)).all()
            yield from (str(row[1]) for row in rows)
            if len(rows) < batch:
                break
            after = tuple(rows[-1]) if with_it else tuple(rows[-1])[1:]
            batch = min(2 * batch, MAX_BATCH)


def _first_copies(
    db: DBSession, matches: Select[Any], order: Order, uids: list[str]
) -> dict[str, int]:
    if not uids:
        return {}
    rows = db.execute(
        matches.with_only_columns(order.uid, func.min(order.id), maintain_column_froms=True)
        .where(order.uid.in_(uids))
        .group_by(order.uid)
    ).all()
    return {str(uid): int(first) for uid, first in rows}
