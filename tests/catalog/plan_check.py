"""Capture the SQL a request runs and judge PostgreSQL's plan of each statement.

The plans are asked with sequential scans, hash joins and merge joins off. At the size of
a test's catalog (and at a million instances too) PostgreSQL often reads a table of ten
thousand sessions whole to hash it, rightly, since that is cheaper there than probing an
index; without those ways it must reach each row through an index, so what is left that
reads a big table whole (a Seq Scan, an index read from end to end with no Limit above
it, a sort of all of its rows) is a query that no index can serve: one that grows with
the catalog whatever its size.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, event, text

# Tables that grow with the archive: a plan may not read any of them whole. (The
# prearchive holds what waits to be archived, which does not grow with the archive.)
BIG = frozenset(
    {
        "dicom_instance",
        "file",
        "resource",
        "scan",
        "session",
        "subject",
        "audit_event",
        "job",
        "event_record",
    }
)
# Nodes that hand rows on as they get them: a Limit above them stops the scan below early.
_STREAMING = frozenset(
    {
        "Nested Loop",
        "Subquery Scan",
        "Result",
        "Unique",
        "Memoize",
        "Merge Join",
        "Append",
        "Merge Append",
        "Incremental Sort",
    }
)
# A sort or grouping of at least this share of a big table's rows sorts the table.
WHOLE = 0.5


@dataclass
class Captured:
    statements: list[tuple[str, Any]] = field(default_factory=list)


@contextmanager
def capture(engine: Engine) -> Iterator[Captured]:
    """Every SELECT run on ``engine`` inside the block, with its parameters."""
    found = Captured()

    def hook(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            found.statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", hook)
    try:
        yield found
    finally:
        event.remove(engine, "before_cursor_execute", hook)


def explain(engine: Engine, statement: str, parameters: Any) -> dict[str, Any]:
    """PostgreSQL's plan of ``statement`` as JSON, with sequential scans and hash and
    merge joins turned off."""
    with engine.connect() as conn:
        for method in ("seqscan", "hashjoin", "mergejoin"):
            conn.execute(text(f"SET LOCAL enable_{method} = off"))
        raw = conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}", parameters).scalar_one()
        conn.rollback()
    plan = raw if isinstance(raw, list) else json.loads(raw)
    root: dict[str, Any] = plan[0]["Plan"]
    return root


def table_rows(engine: Engine) -> dict[str, float]:
    """The planner's row count of each big table."""
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT relname, reltuples FROM pg_class WHERE relname = ANY(:t)"),
            {"t": sorted(BIG)},
        ).all()
    return {str(name): float(count) for name, count in rows}


def faults(plan: Mapping[str, Any], sizes: Mapping[str, float]) -> list[str]:
    """What in ``plan`` grows with the catalog: a sequential scan of a big table, a read
    of all of one through an index with nothing to stop it early, a sort or grouping of
    all of one."""
    found: list[str] = []
    _walk(plan, sizes, found, limited=False)
    return found


def _walk(
    node: Mapping[str, Any], sizes: Mapping[str, float], found: list[str], *, limited: bool
) -> None:
    kind = str(node["Node Type"])
    table = node.get("Relation Name")
    rows = float(node.get("Plan Rows", 0))
    if table in BIG:
        whole = rows >= WHOLE * sizes.get(table, 0) and sizes.get(table, 0) > 0
        if kind == "Seq Scan":
            found.append(f"Seq Scan on {table}")
        elif kind in ("Index Scan", "Index Only Scan", "Bitmap Heap Scan") and whole:
            if not limited:
                found.append(f"{kind} of all of {table} ({rows:.0f} rows)")
    if kind == "Sort":
        biggest = max((sizes.get(t, 0) for t in _tables(node)), default=0)
        if biggest and rows >= WHOLE * biggest:
            found.append(f"Sort of {rows:.0f} rows: all of {', '.join(sorted(_tables(node)))}")
    below_limit = kind == "Limit" or (limited and kind in _STREAMING)
    for child in node.get("Plans", ()):
        _walk(child, sizes, found, limited=below_limit)


def _tables(node: Mapping[str, Any]) -> set[str]:
    found = {str(node["Relation Name"])} & BIG if node.get("Relation Name") else set()
    for child in node.get("Plans", ()):
        found |= _tables(child)
    return found


def render(plan: Mapping[str, Any], depth: int = 0) -> str:
    """The plan as an indented outline, for a failure's message."""
    kind = plan["Node Type"]
    on = f" on {plan['Relation Name']}" if plan.get("Relation Name") else ""
    index = f" using {plan['Index Name']}" if plan.get("Index Name") else ""
    extra = [
        f"{key}: {plan[key]}"
        for key in ("Index Cond", "Filter", "Sort Key", "Group Key", "Hash Cond", "Join Filter")
        if plan.get(key)
    ]
    line = f"{'  ' * depth}{kind}{on}{index} rows={plan.get('Plan Rows')} {' '.join(extra)}"
    return "\n".join([line, *(render(c, depth + 1) for c in plan.get("Plans", ()))])
