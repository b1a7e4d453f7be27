"""A small archive script for the archive-time de-identification tests, behind the
deid.model.Script protocol, and the way a project gets one in force: a DeidScript row,
loaded through scandepot.deid.scripts.load (patched to read this kind of text).

It does what a real profile does to the attributes the catalog keeps: names and IDs
replaced by the session's labels, UIDs remapped with the project's key, dates shifted by
the patient's shift, accession number and other identifiers removed. Its text is JSON
under the key ``label-script``: ``{"label-script": {"refuse": "<SeriesDescription>"}}``
makes it refuse that series' instances, ``{"label-script": {"explode": true}}`` makes it
fail as a buggy script would. Any other text is loaded by the real loaders (the profile,
CTP).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from pydicom import Dataset
from sqlalchemy import func, select

from scandepot.catalog.archive import Project
from scandepot.catalog.deid import DeidScript, Purpose
from scandepot.context import Context
from scandepot.deid import scripts
from scandepot.deid.model import Refused, Run, Script

UIDS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID")
DATES = ("StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate")
REMOVED = (
    "AccessionNumber",
    "PatientBirthDate",
    "ReferringPhysicianName",
    "InstitutionName",
    "StationName",
    "StudyDescription",
    "PatientComments",
    "StudyComments",
)


class LabelScript:
    kind = "profile"

    def __init__(self, text: str) -> None:
        self.options: dict[str, Any] = json.loads(text)[MARK]
        self.sha256 = hashlib.sha256(text.encode()).hexdigest()

    def apply(self, ds: Dataset, run: Run) -> None:
        refused = self.options.get("refuse")
        if refused and ds.get("SeriesDescription") == refused:
            raise Refused(f"series '{refused}' may not be archived")
        if self.options.get("explode"):
            raise ZeroDivisionError("division by zero")
        keys = run.keys
        shift = dt.timedelta(days=keys.shift_days(str(ds.get("PatientID", ""))))
        ds.PatientName = run.params["SUBJECT"]
        ds.PatientID = run.params["SUBJECT"]
        for keyword in UIDS:
            if keyword in ds:
                setattr(ds, keyword, keys.uid(str(ds[keyword].value)))
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        for keyword in DATES:
            value = str(ds.get(keyword) or "")
            if len(value) == 8:
                day = dt.date(int(value[:4]), int(value[4:6]), int(value[6:]))
                setattr(ds, keyword, (day + shift).strftime("%Y%m%d"))
        for keyword in REMOVED:
            if keyword in ds:
                del ds[keyword]
        ds.PatientIdentityRemoved = "YES"


MARK = "label-script"
REAL_LOAD = scripts.load


def load(kind: str, text: str, pixel_text: str = "") -> Script:
    if kind == "profile" and text.startswith('{"' + MARK):
        return LabelScript(text)
    return REAL_LOAD(kind, text, pixel_text)


def label_script(**options: Any) -> str:
    """The text of a :class:`LabelScript` with ``options``."""
    return json.dumps({MARK: options})


def install() -> None:
    """Scripts saved as rows load as :class:`LabelScript` (in this process)."""
    scripts.load = load


def save(
    ctx: Context,
    project: str,
    text: str | None = None,
    *,
    kind: str = "profile",
    enabled: bool = True,
) -> str:
    """A new version of ``project``'s archive script (a :class:`LabelScript` unless
    ``text`` is given); returns what sessions record of it."""
    text = label_script() if text is None else text
    digest = hashlib.sha256(text.encode()).hexdigest()
    with ctx.db.write() as db:
        project_id = db.scalar(select(Project.id).where(Project.label == project))
        assert project_id is not None
        version = 1 + (
            db.scalar(
                select(func.max(DeidScript.version)).where(
                    DeidScript.project_id == project_id, DeidScript.purpose == Purpose.ARCHIVE
                )
            )
            or 0
        )
        db.add(
            DeidScript(
                project_id=project_id,
                purpose=Purpose.ARCHIVE,
                version=version,
                kind=kind,
                text=text,
                pixel_text="",
                sha256=digest,
                enabled=enabled,
                created_by="owner",
            )
        )
    return f"archive v{version} sha256:{digest[:12]}"
