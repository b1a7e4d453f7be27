"""The rows of a session or scan type, as SQL: those :mod:`scandepot.search.types` gives
that type, so that a search of ``xnat:mrSessionData`` finds exactly the sessions the
listings call MR sessions.

The rule reads a modality as text (``MR``, ``MR/PT``, nothing), so it runs here on the few
distinct values the catalog holds, and the search matches the values that give the type.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, or_, select
from sqlalchemy.orm import Session as DBSession

from scandepot.catalog.archive import Project, Scan, Session
from scandepot.search import types
from scandepot.search.elements import Element, Field, Level


def column_of(db: DBSession, field: Field) -> Any:
    """The SQL of ``field``: its column, or for a count of a project's sessions of a type
    (``PROJ_MR_COUNT``) the count, of the sessions that type holds."""
    if field.sessions_of is None:
        return field.column
    of_type = _sessions_of(db, field.sessions_of)
    count = select(func.count(Session.id)).where(Session.project_id == Project.id, of_type)
    return count.scalar_subquery()


def _sessions_of(db: DBSession, name: str) -> ColumnElement[bool]:
    sessions = db.scalars(select(Session.modality).distinct()).all()
    return _one_of(Session.modality, [m for m in sessions if types.session_type(m) == name])


def condition(db: DBSession, element: Element) -> ColumnElement[bool] | None:
    """SQL condition on the level's rows that are of ``element``'s type; None when every
    row of the level is (``xnat:imageSessionData``)."""
    name = element.type_name
    if name is None:
        return None
    if element.level == Level.SESSION:
        return _sessions_of(db, name)
    sessions = db.scalars(select(Session.modality).distinct()).all()
    own = db.scalars(select(Scan.Modality).distinct()).all()
    # A scan without a Modality of its own takes its session's.
    given = [m for m in own if (m or "").strip() and types.scan_type(m) == name]
    missing = [m for m in own if not (m or "").strip()]
    inherited = [m for m in sessions if types.scan_type(None, session_modality=m) == name]
    return or_(
        _one_of(Scan.Modality, given),
        and_(_one_of(Scan.Modality, missing), _one_of(Session.modality, inherited)),
    )


def _one_of(column: object, values: Sequence[str | None]) -> ColumnElement[bool]:
    present = [v for v in values if v is not None]
    parts: list[ColumnElement[bool]] = []
    if present:
        parts.append(column.in_(present))  # type: ignore[attr-defined]
    if len(present) < len(values):
        parts.append(column.is_(None))  # type: ignore[attr-defined]
    return or_(*parts) if parts else false()
