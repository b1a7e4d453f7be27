"""Clinical records on their way out, de-identified by the same script and keys as the
images, so that a record and its subject's images carry the same pseudonyms.

What the images of a subject carry is not guessed: the script (the project's export
script in force, or the one a push's destination runs) is run, with the project's keys
and the same parameters (PROJECT, SUBJECT, SESSION), on a small header-only dataset made
of what the catalog holds of the subject's study (Patient's Name and ID, birth date,
sex, Study Instance UID, accession number, description) and two probe dates
(:func:`identity`). What comes out is what the images carry:

- the Patient ID: the record's key (the profile's: the project's pseudonym table, kind
  ``ptid``, else the keyed pseudonym; a CTP script's: whatever its rule gives);
- the Study Instance UID, which names a session's record;
- the dates: kept when the script keeps them, moved by the same number of days when it
  moves both probe dates by the same number (the profile's Modified Dates option: a
  per-patient shift), and left out of the record otherwise (the script removes or
  replaces dates).

The original Patient ID is the one most of the subject's sessions hold (the earliest on
a tie); a subject without a session is its label. Variables marked ``x-identifying``
never go out (:func:`masked`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian, MRImageStorage
from sqlalchemy.orm import Session as DBSession

from scandepot.catalog.archive import Session, Subject
from scandepot.catalog.deid import Purpose
from scandepot.clinical import schemas
from scandepot.deid import in_force
from scandepot.deid.model import Keys, Refused, Run, Script
from scandepot.errors import Conflict

# Two probe dates: a script that moves both by the same days shifts dates; one that maps
# every date to one value (a dummy) moves them by different days. Neither is a round date
# a script might use as its dummy.
PROBE_DATES = (dt.date(1987, 6, 13), dt.date(1991, 9, 27))
PROBE_UID = UID("2.25.1")  # the probe's own SOP Instance and Series UIDs (never sent)


@dataclass(frozen=True, slots=True)
class Way:
    """How a project's data leaves: the script, the project's keys, the project's label."""

    script: Script
    keys: Keys
    project: str


@dataclass(frozen=True, slots=True)
class Identity:
    """A subject's (or one session's) identifiers as its images carry them out."""

    patient_id: str
    study_uid: str | None  # the Study Instance UID out of the session probed; None: none
    date_shift: int | None  # days added to every date; 0 kept; None: dates left out


def export_way(
    db: DBSession,
    project_id: int,
    project: str,
    *,
    script: Script | None = None,
    keys: Keys | None = None,
) -> Way:
    """``script`` (a push destination's) or the project's export script in force, and the
    project's keys (made at first use: call in a write transaction); :class:`Conflict`
    when there is no script, as for de-identified downloads."""
    if script is None:
        found = in_force.script_in_force(db, project_id, Purpose.EXPORT)
        if found is None:
            raise Conflict(
                f"Project '{project}' has no export de-identification script in force, so "
                "nothing can leave it de-identified; an owner saves one (purpose export) in "
                "the project's Manage tab.",
                field="deid",
            )
        script = found.script
    if getattr(script, "pixel_script", None) is not None and dataclasses.is_dataclass(script):
        # Pixel rules touch pixels only; the probe has none to match or decode.
        script = dataclasses.replace(script, pixel_script=None)
    if keys is None:
        keys = in_force.keys_of(db, project_id, create=True)
    return Way(script, keys, project)


def original_patient_id(
    subject: Subject, sessions: Sequence[Session]
) -> tuple[str, Session | None]:
    """The Patient ID most of ``sessions`` hold (the earliest on a tie) and that session;
    the subject's label when none holds one."""
    held = [s for s in sessions if s.PatientID and s.PatientID.strip()]
    if not held:
        return subject.label, None
    counts = Counter(s.PatientID.strip() for s in held if s.PatientID)
    best = max(counts.values())
    first = min(
        (s for s in held if s.PatientID and counts[s.PatientID.strip()] == best),
        key=lambda s: (s.date or dt.date.max, s.id),
    )
    return (first.PatientID or "").strip(), first


def _probe(session: Session | None, patient_id: str, when: dt.date) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = MRImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = PROBE_UID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = MRImageStorage
    ds.SOPInstanceUID = PROBE_UID
    ds.SeriesInstanceUID = UID(PROBE_UID + "1")
    ds.PatientID = patient_id
    ds.StudyDate = when.strftime("%Y%m%d")
    ds.Modality = (session.modality if session is not None else None) or "OT"
    if session is not None:
        for keyword in (
            "PatientName",
            "PatientBirthDate",
            "PatientSex",
            "StudyInstanceUID",
            "AccessionNumber",
            "StudyDescription",
        ):
            value = getattr(session, keyword)
            if value:
                setattr(ds, keyword, value)
    return ds


def _run(way: Way, ds: Dataset, subject: str, session: str | None) -> Dataset:
    params = {"PROJECT": way.project, "SUBJECT": subject}
    if session:
        params["SESSION"] = session
    try:
        way.script.apply(ds, Run(way.keys, params))
    except Refused as exc:
        raise Conflict(
            f"The de-identification script refuses the study of subject '{subject}' "
            f"({exc.message}), so its clinical record cannot leave de-identified either.",
            field="deid",
        ) from None
    return ds


def _date(value: object) -> dt.date | None:
    text = str(value or "").strip()
    try:
        return dt.datetime.strptime(text[:8], "%Y%m%d").date() if len(text) >= 8 else None
    except ValueError:
        return None


def identity(way: Way, subject: Subject, session: Session | None, patient_id: str) -> Identity:
    """What the images of ``subject`` (of ``session``, when given) carry out."""
    session_label = session.label if session is not None else None
    outs = [
        _run(way, _probe(session, patient_id, when), subject.label, session_label)
        for when in PROBE_DATES
    ]
    moved = [_date(out.get("StudyDate")) for out in outs]
    shift: int | None = None
    if moved[0] is not None and moved[1] is not None:
        deltas = {(m - p).days for m, p in zip(moved, PROBE_DATES, strict=True) if m}
        shift = deltas.pop() if len(deltas) == 1 else None
    out = outs[0]
    study = str(out.get("StudyInstanceUID", "") or "") if session is not None else None
    return Identity(str(out.get("PatientID", "") or ""), study, shift)


def masked(schema: Mapping[str, Any], values: Mapping[str, Any], who: Identity) -> dict[str, Any]:
    """``values`` de-identified: the schema's variables in its order, ``x-identifying``
    ones left out, dates moved as the images' are (or left out when theirs are)."""
    out: dict[str, Any] = {}
    for var in schemas.variables(schema):
        if var.name not in values or var.identifying:
            continue
        value = values[var.name]
        if var.is_date:
            if who.date_shift is None:
                continue
            try:
                day = dt.date.fromisoformat(str(value))
            except ValueError:
                continue  # a record checked against an older schema: not a date, not out
            value = (day + dt.timedelta(days=who.date_shift)).isoformat()
        out[var.name] = value
    return out
