"""What the public catalogue shows of a published version: counts and distributions
computed from its manifest, with small counts suppressed (docs/catalogue.md).

:func:`compute` runs once, at publication, inside the publishing transaction; its result
is stored as :attr:`DatasetVersion.aggregates` and only read afterwards. It works from the
release's manifest (the ids each file hung from at release) joined to the catalogue:
one grouped query over the files and their DICOM instances gives one row per scan (never
a row per instance in Python), two more read the subjects and sessions, and the clinical
records are read by :mod:`scandepot.datasets.clinical_stats`. Every count of people goes
through :mod:`scandepot.datasets.suppression`.

Nothing here names a subject, session, scan, UID, date or file: values are categories
(modality, body part, manufacturer, field strength, sex, age bins, clinical categories
and bins) and counts.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session as DBSession

from scandepot.catalog.archive import Scan, Sex, Subject
from scandepot.catalog.archive import Session as ImagingSession
from scandepot.catalog.datasets import DatasetFile, DatasetVersion
from scandepot.catalog.prearchive import Instance
from scandepot.datasets import clinical_stats, search_terms
from scandepot.datasets.suppression import Count, partition, small

FORMAT = 1
CHUNK = 500  # ids per IN list
AGE_BIN = 10
AGE_TOP = 90  # 90 and over in one bin: ages past it are rare enough to identify
UNKNOWN = "unknown"
_DICOM_SEX = {"F": Sex.FEMALE.value, "M": Sex.MALE.value, "O": Sex.OTHER.value}


@dataclass(slots=True)
class _Tally:
    """Who falls in each value of one attribute."""

    subjects: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))

    def add(self, value: str | None, subject: int | None) -> None:
        if value is not None and subject is not None:
            self.subjects[value].add(subject)

    def shown(self, total: int, below: int) -> dict[str, Any]:
        """Subjects per value, most first, suppressed as a partition that may overlap;
        ``values`` names them all (also when the counts are withheld)."""
        order = sorted(self.subjects, key=lambda v: (-len(self.subjects[v]), v))
        cells = [(v, len(self.subjects[v])) for v in order]
        overlapping = sum(n for _, n in cells) != total
        counts = partition(cells, total, below, overlapping=overlapping)
        bins = (
            []
            if counts is None
            else [{"value": v, "subjects": c} for v, c in zip(order, counts, strict=True)]
        )
        return {"withheld": counts is None, "values": order, "bins": bins}


@dataclass(slots=True)
class _Imaging:
    subjects: set[int] = field(default_factory=set)
    sessions: set[int] = field(default_factory=set)
    series: int = 0
    instances: int = 0
    modalities: _Tally = field(default_factory=_Tally)
    body_parts: _Tally = field(default_factory=_Tally)
    manufacturers: _Tally = field(default_factory=_Tally)
    field_strengths: _Tally = field(default_factory=_Tally)


def compute(db: DBSession, version: DatasetVersion, *, suppress_below: int) -> dict[str, Any]:
    """The aggregates of released ``version``, counts of people below ``suppress_below``
    suppressed; to be stored as ``version.aggregates`` at publication."""
    below = suppress_below
    seen = _imaging(db, version.id)
    subjects = sorted(seen.subjects)
    sessions = sorted(seen.sessions)
    people = _people(db, subjects, sessions)
    total = len(subjects)
    hidden = total < below
    counts: dict[str, Count] = {
        "subjects": small(total, below),
        "sessions": f"<{below}" if hidden else len(sessions),
        "series": f"<{below}" if hidden else seen.series,
        "instances": f"<{below}" if hidden else seen.instances,
    }
    result: dict[str, Any] = {
        "format": FORMAT,
        "suppress_below": below,
        "counts": counts,
        "modalities": seen.modalities.shown(total, below),
        "body_parts": seen.body_parts.shown(total, below),
        "manufacturers": seen.manufacturers.shown(total, below),
        "field_strengths": seen.field_strengths.shown(total, below),
        "sex": _partitioned([p[0] for p in people.values()], total, below, _SEX_ORDER),
        "age": _partitioned([p[1] for p in people.values()], total, below, _age_order()),
        "clinical": clinical_stats.distributions(db, subjects, sessions, total, below),
    }
    result[search_terms.KEY] = search_terms.build(version.meta or {}, result)
    return result


def _imaging(db: DBSession, version_id: int) -> _Imaging:
    """One row per (subject, session, scan) of the manifest with its instance count and
    the scan's and session's attributes: grouped in SQL, tallied here."""
    f = DatasetFile
    per_scan = (
        select(
            f.subject_id,
            f.session_id,
            f.scan_id,
            func.count(Instance.id).label("instances"),
        )
        .select_from(f)
        .outerjoin(Instance, (Instance.file_id == f.file_id) & Instance.duplicate_of.is_(None))
        .where(f.version_id == version_id)
        .group_by(f.subject_id, f.session_id, f.scan_id)
        .subquery()
    )
    s = ImagingSession
    rows = db.execute(
        select(
            per_scan.c.subject_id,
            per_scan.c.session_id,
            per_scan.c.scan_id,
            per_scan.c.instances,
            Scan.Modality,
            Scan.BodyPartExamined,
            s.modality,
            s.Manufacturer,
            s.MagneticFieldStrength,
        )
        .select_from(per_scan)
        .outerjoin(Scan, Scan.id == per_scan.c.scan_id)
        .outerjoin(s, s.id == per_scan.c.session_id)
    )
    seen = _Imaging()
    for subject, session, scan, instances, modality, body_part, fallback, maker, tesla in rows:
        if subject is not None:
            seen.subjects.add(subject)
        if session is not None:
            seen.sessions.add(session)
            seen.manufacturers.add(_word(maker), subject)
            seen.field_strengths.add(_tesla(tesla), subject)
        if scan is not None:
            seen.series += 1
            seen.modalities.add(_word(modality or fallback), subject)
            seen.body_parts.add(_word(body_part), subject)
        seen.instances += int(instances or 0)
    return seen


def _word(value: str | None) -> str | None:
    """A DICOM code string as one value: trimmed, upper case (CS is upper case)."""
    text = (value or "").strip().upper()
    return text or None


def _tesla(value: float | None) -> str | None:
    if value is None or value <= 0:
        return None
    return f"{round(value, 1):g} T"


def _people(db: DBSession, subjects: list[int], sessions: list[int]) -> dict[int, tuple[str, str]]:
    """Each subject's sex and age bin: the subject's own fields, else what its sessions'
    DICOM headers say (Patient's Sex; age from Patient's Birth Date at the first session)."""
    found: dict[int, list[Any]] = {}
    for ids in _chunks(subjects):
        for sid, sex, age in db.execute(
            select(Subject.id, Subject.sex, Subject.age).where(Subject.id.in_(ids))
        ):
            found[sid] = [sex if sex in _SEX_ORDER else None, age, set(), None]
    for ids in _chunks(sessions):
        for sid, dicom_sex, birth, day in db.execute(
            select(
                ImagingSession.subject_id,
                ImagingSession.PatientSex,
                ImagingSession.PatientBirthDate,
                ImagingSession.date,
            ).where(ImagingSession.id.in_(ids))
        ):
            held = found.setdefault(sid, [None, None, set(), None])
            if dicom_sex:
                held[2].add(_DICOM_SEX.get(dicom_sex.strip().upper(), Sex.UNKNOWN.value))
            age = _age_at(birth, day)
            if age is not None and (held[3] is None or day < held[3][0]):
                held[3] = (day, age)
    people = {}
    for sid in subjects:
        sex, age, dicom_sexes, first = found.get(sid, [None, None, set(), None])
        if sex is None:
            sex = next(iter(dicom_sexes)) if len(dicom_sexes) == 1 else UNKNOWN
        if age is None and first is not None:
            age = first[1]
        people[sid] = (sex, _age_bin(age))
    return people


def _age_at(birth: str | None, day: dt.date | None) -> int | None:
    if not birth or day is None:
        return None
    try:
        born = dt.date(int(birth[:4]), int(birth[4:6]), int(birth[6:8]))
    except ValueError:
        return None
    years = day.year - born.year - ((day.month, day.day) < (born.month, born.day))
    return years if 0 <= years < 150 else None


def _age_bin(age: int | None) -> str:
    if age is None or age < 0:
        return UNKNOWN
    if age >= AGE_TOP:
        return f"{AGE_TOP}+"
    low = age // AGE_BIN * AGE_BIN
    return f"{low}–{low + AGE_BIN - 1}"


_SEX_ORDER = (Sex.FEMALE.value, Sex.MALE.value, Sex.OTHER.value, UNKNOWN)


def _age_order() -> tuple[str, ...]:
    bins = [f"{low}–{low + AGE_BIN - 1}" for low in range(0, AGE_TOP, AGE_BIN)]
    return (*bins, f"{AGE_TOP}+", UNKNOWN)


def _partitioned(
    values: Iterable[str], total: int, below: int, order: tuple[str, ...]
) -> dict[str, Any]:
    """A distribution of subjects over ``order`` (every subject in one value), suppressed
    as a partition: ``{"withheld": true}`` when no suppression protects it."""
    tally: dict[str, int] = defaultdict(int)
    for value in values:
        tally[value if value in order else UNKNOWN] += 1
    cells = [(v, tally[v]) for v in order if tally[v]]
    shown = partition(cells, total, below)
    if shown is None:
        return {"withheld": True, "bins": []}
    return {
        "withheld": False,
        "bins": [{"value": v, "subjects": s} for (v, _), s in zip(cells, shown, strict=True)],
    }


def _chunks(ids: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]
