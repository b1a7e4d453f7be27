"""The SQL of a search at each level: what matches, grouped by its unique key (one
result for the copies of a study, series or instance held in several readable
projects), in a stable order, one page of it."""

from __future__ import annotations

from typing import Any

from pydicom import Dataset
from sqlalchemy import ColumnElement, Select, distinct, exists, func, or_, select, true
from sqlalchemy.orm import Session as DBSession
from sqlalchemy.orm import aliased

from scandepot.catalog.archive import Project, Scan, Session
from scandepot.catalog.prearchive import Instance
from scandepot.query import matching, results, stats, walk
from scandepot.query.attributes import ATTRIBUTES, Level
from scandepot.query.request import Query
from scandepot.query.scope import Scope


def find(
    db: DBSession, scope: Scope, query: Query, limit: int | None, dialect: str
) -> tuple[list[Dataset], bool]:
    """One page of results of ``query`` and whether more remain."""
    conditions = _conditions(query, dialect)
    if query.level in (Level.STUDY, Level.SERIES):
        matches, order = _WALKED[query.level](scope, query, conditions)
        found, more = walk.page(db, matches, order, query.offset, limit)
        return results.build(db, scope, query, [tuple(row) for row in found]), more
    finder = {
        Level.PATIENT: _patients,
        Level.IMAGE: _instances,
    }[query.level]
    statement: Select[*tuple[Any, ...]] = finder(scope, query, conditions)
    if query.offset:
        statement = statement.offset(query.offset)
    if limit is not None:
        statement = statement.limit(limit + 1)
    rows = [tuple(row) for row in db.execute(statement)]
    more = limit is not None and len(rows) > limit
    rows = rows[:limit] if limit is not None else rows
    return results.build(db, scope, query, rows), more


def _conditions(query: Query, dialect: str) -> list[ColumnElement[bool]]:
    matches = dict(query.matches)
    found: list[ColumnElement[bool]] = []
    day, at = matches.get("StudyDate", ""), matches.get("StudyTime", "")
    if not matching.is_universal(day) and not matching.is_universal(at):
        found.append(matching.date_time(Session.date, Session.time, day, at))
        del matches["StudyDate"], matches["StudyTime"]
    for keyword, value in matches.items():
        attribute = ATTRIBUTES[keyword]
        if attribute.computed == "modalities":
            found.append(_modalities(value, dialect))
        else:
            found.append(
                matching.condition(
                    attribute, attribute.column, value, fuzzy=query.fuzzy, dialect=dialect
                )
            )
    return found


def _modalities(value: str, dialect: str) -> ColumnElement[bool]:
    """Modalities in Study: the study holds a series of any of the modalities given."""
    if matching.is_universal(value):
        return true()
    scan = aliased(Scan)
    wanted = [v.strip(" ") for v in value.replace(",", "\\").split("\\") if v.strip(" ")]
    either = or_(*(matching.text(scan.Modality, v, fuzzy=False, dialect=dialect) for v in wanted))
    return exists(select(scan.id).where(scan.session_id == Session.id, either))


def _in_scope(scope: Scope) -> list[ColumnElement[bool]]:
    return [scope.projects(), Session.StudyInstanceUID.is_not(None)]


def _patients(scope: Scope, query: Query, where: list[Any]) -> Select[*tuple[Any, ...]]:
    return (
        select(
            Session.PatientID,
            func.min(Session.id),
            func.count(distinct(Session.StudyInstanceUID)),
        )
        .join(Project, Project.id == Session.project_id)
        .where(*_in_scope(scope), stats.has_instances(), *where)
        .group_by(Session.PatientID)
        .order_by(Session.PatientID)
    )


def _studies(scope: Scope, query: Query, where: list[Any]) -> tuple[Select[Any], walk.Order]:
    """Studies newest first: by Study Date, then Study Instance UID, both descending (the
    index on session (date, study_instance_uid, id) read backwards)."""
    matches = (
        select(Session.id)
        .join(Project, Project.id == Session.project_id)
        .where(*_in_scope(scope), stats.has_instances(), *where)
    )
    return matches, walk.Order(Session.date, Session.StudyInstanceUID, Session.id, True)


def _series(scope: Scope, query: Query, where: list[Any]) -> tuple[Select[Any], walk.Order]:
    """Series by Series Number, then Series Instance UID (the index on scan
    (series_number, series_instance_uid, id))."""
    matches = (
        select(Scan.id)
        .join(Session, Session.id == Scan.session_id)
        .join(Project, Project.id == Session.project_id)
        .where(*_in_scope(scope), stats.scan_has_instances(), *where)
    )
    if query.study is not None:
        matches = matches.where(Session.StudyInstanceUID == query.study)
    return matches, walk.Order(Scan.SeriesNumber, Scan.SeriesInstanceUID, Scan.id, False)


_WALKED = {Level.STUDY: _studies, Level.SERIES: _series}


def _instances(scope: Scope, query: Query, where: list[Any]) -> Select[*tuple[Any, ...]]:
    statement = (
        select(Instance.SOPInstanceUID, func.min(Instance.id))
        .join(Scan, Scan.id == Instance.scan_id)
        .join(Session, Session.id == Scan.session_id)
        .join(Project, Project.id == Session.project_id)
        .where(*_in_scope(scope), *where)
    )
    if query.study is not None:
        statement = statement.where(Instance.StudyInstanceUID == query.study)
    if query.series is not None:
        statement = statement.where(Instance.SeriesInstanceUID == query.series)
    return statement.group_by(Instance.SOPInstanceUID).order_by(
        func.min(Instance.InstanceNumber).nulls_last(), Instance.SOPInstanceUID
    )
