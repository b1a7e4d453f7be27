"""A page of matches as data sets: the return attributes of each, from the catalog rows of
the copy that stands for it and the counts of :mod:`.stats`."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydicom import Dataset
from pydicom.dataelem import DataElement
from pydicom.multival import MultiValue
from pydicom.valuerep import PersonName
from sqlalchemy import select
from sqlalchemy.orm import Session as DBSession
from sqlalchemy.orm import lazyload

from scandepot.catalog.archive import Scan, Session
from scandepot.catalog.prearchive import Instance
from scandepot.query import stats
from scandepot.query.attributes import ATTRIBUTES, REQUIRED, UNIQUE, Level, allowed, level_of
from scandepot.query.request import Query
from scandepot.query.scope import Scope

ONLINE = "ONLINE"  # Instance Availability: everything the catalog holds is on line


def wanted(query: Query) -> list[str]:
    """The return attributes of ``query``: the level's required ones (and at a search
    over all series or instances, those of the levels above), the unique keys above, the
    matched and the included ones, as far as the level has them."""
    level = query.level
    found: list[str] = list(REQUIRED[level])
    if level in (Level.SERIES, Level.IMAGE):
        found.append(UNIQUE[Level.STUDY])
        if query.study is None:
            found += REQUIRED[Level.STUDY]
    if level == Level.IMAGE:
        found.append(UNIQUE[Level.SERIES])
        if query.series is None:
            found += REQUIRED[Level.SERIES]
    found += [k for k in query.matches if k in ATTRIBUTES]
    if query.include == "all":
        found += [k for k in ATTRIBUTES if _own_level(k, level)]
    else:
        found += [k for k in query.include if k in ATTRIBUTES and allowed(k, level)]
    return list(dict.fromkeys(found))


def _own_level(keyword: str, level: Level) -> bool:
    if ATTRIBUTES[keyword].computed == "patient_studies" and level != Level.PATIENT:
        return False
    own = level_of(keyword, level)
    return own == level or (level == Level.STUDY and own == Level.PATIENT)


def build(db: DBSession, scope: Scope, query: Query, rows: list[tuple[Any, ...]]) -> list[Dataset]:
    if not rows:
        return []
    keywords = wanted(query)
    objects = _load(db, query.level, [row[1] for row in rows])
    computed = {ATTRIBUTES[k].computed for k in keywords} - {None}
    sessions = [objects[row[1]][Session] for row in rows]
    study_stats: dict[str, stats.StudyStats] = {}
    if computed & {"modalities", "study_series", "study_instances"}:
        uids = sorted({str(s.StudyInstanceUID) for s in sessions})
        study_stats = stats.studies(db, scope, uids)
    series_counts: dict[str, int] = {}
    if "series_instances" in computed:
        uids = sorted({str(objects[row[1]][Scan].SeriesInstanceUID) for row in rows})
        series_counts = stats.series(db, scope, uids, query.study)
    out = []
    for row in rows:
        found = objects[row[1]]
        session, scan = found[Session], found.get(Scan)
        study = study_stats.get(str(session.StudyInstanceUID), stats.StudyStats())
        values = {
            "modalities": study.modalities,
            "study_series": study.series,
            "study_instances": study.instances,
            "series_instances": series_counts.get(str(getattr(scan, "SeriesInstanceUID", ""))),
            "patient_studies": row[2] if query.level == Level.PATIENT else None,
            "availability": ONLINE,
        }
        out.append(_dataset(keywords, found, values))
    return out


def _load(db: DBSession, level: Level, ids: list[int]) -> dict[int, dict[type, Any]]:
    """The catalog rows standing for each result, by the ID of the level's own row."""
    quiet = (lazyload(Session.project), lazyload(Session.subject))
    found: dict[int, dict[type, Any]] = {}
    if level in (Level.PATIENT, Level.STUDY):
        for session in db.scalars(select(Session).where(Session.id.in_(ids)).options(*quiet)):
            found[session.id] = {Session: session}
    elif level == Level.SERIES:
        for scan, session in db.execute(
            select(Scan, Session)
            .join(Session, Session.id == Scan.session_id)
            .where(Scan.id.in_(ids))
            .options(*quiet, lazyload(Scan.session))
        ):
            found[scan.id] = {Scan: scan, Session: session}
    else:
        for instance, scan, session in db.execute(
            select(Instance, Scan, Session)
            .join(Scan, Scan.id == Instance.scan_id)
            .join(Session, Session.id == Scan.session_id)
            .where(Instance.id.in_(ids))
            .options(*quiet, lazyload(Scan.session))
        ):
            found[instance.id] = {Instance: instance, Scan: scan, Session: session}
    return found


def _dataset(keywords: list[str], rows: dict[type, Any], computed: dict[str, Any]) -> Dataset:
    elements: dict[Any, Any] = {}
    for keyword in keywords:
        attribute = ATTRIBUTES[keyword]
        if attribute.column is not None:
            owner = rows.get(attribute.column.class_)
            value = getattr(owner, attribute.column.key) if owner is not None else None
        else:
            value = computed.get(attribute.computed or "")
        elements[attribute.tag] = _element(attribute.tag, attribute.vr, value)
    return Dataset(elements)


def to_json(ds: Dataset) -> dict[str, Any]:
    """A result as DICOM JSON (PS3.18 F.2), as pydicom's ``to_json_dict`` writes it, for
    the value types results hold (several times faster: a page holds thousands)."""
    out: dict[str, Any] = {}
    for tag in sorted(ds.keys()):
        element = ds[tag]
        item: dict[str, Any] = {"vr": element.VR}
        value = element.value
        if value is not None and value != "":
            values = list(value) if isinstance(value, MultiValue | list) else [value]
            if element.VR == "PN":
                item["Value"] = [{"Alphabetic": str(v)} for v in values]
            elif element.VR in ("IS", "US", "UL", "SS", "SL"):
                item["Value"] = [int(v) for v in values]
            else:
                item["Value"] = [str(v) for v in values]
        out[f"{tag:08X}"] = item
    return out


def _element(tag: int, vr: str, value: Any) -> DataElement:
    """An element holding a catalog value as DICOM has it (dates as YYYYMMDD, times as
    HHMMSS, names as PersonName); as stored, not checked again (it came from an
    instance's header)."""
    if value is None or value == "":
        value = None
    elif isinstance(value, dt.date):
        value = value.strftime("%Y%m%d")
    elif isinstance(value, dt.time):
        value = value.strftime("%H%M%S")
    elif isinstance(value, list):
        # One value is held as itself (pydicom's VM is then 1), several as a MultiValue.
        value = (MultiValue(str, value) if len(value) > 1 else value[0]) if value else None
    elif vr == "PN":
        value = PersonName(value)
    return DataElement(tag, vr, value, already_converted=True)
