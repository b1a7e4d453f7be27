"""What the de-identified download and transfer tests share: a small export script
written here (the Script protocol of scandepot.deid.model) for the tests of the way out
itself, real profile and CTP scripts, saved as the project's DeidScript row, and archived
sessions of real DICOM files made through the import."""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydicom import Dataset, dcmread
from sqlalchemy import select

from scandepot.catalog.archive import Project
from scandepot.catalog.deid import DeidScript, Purpose, ScriptKind
from scandepot.context import Context
from scandepot.deid import scripts
from scandepot.deid.model import Refused, Run, Script
from scandepot.dicom.synthetic import Series, Study, mr_instance
from tests.helpers import write_study

IMPORT = "/data/services/import"
SCRIPT_TEXT = '{"test": "removes names, IDs and dates; remaps UIDs"}'
IDENTIFYING = ("PatientName", "PatientID", "PatientBirthDate", "AccessionNumber")


class RemapScript:
    """A tiny export script: names and IDs replaced, dates removed, the study, series and
    instance UIDs remapped with the project's keys (so the same input gives the same
    UID), SUBJECT and SESSION written as the new patient's name and ID. Refuses an
    instance whose PatientComments say REFUSE (as a CTP @require would); leaves the
    Referring Physician's Name of one whose PatientComments say LEAK, for the
    verification to find."""

    kind = ScriptKind.PROFILE.value
    sha256 = hashlib.sha256(SCRIPT_TEXT.encode()).hexdigest()

    def apply(self, ds: Dataset, run: Run) -> None:
        if str(ds.get("PatientComments", "")) == "REFUSE":
            raise Refused("@require: this instance may not leave")
        ds.PatientName = run.params.get("SUBJECT", "ANON")
        ds.PatientID = run.params.get("SUBJECT", "ANON")
        leaky = str(ds.get("PatientComments", "")) == "LEAK"  # for the verification
        names = ("PatientBirthDate", "AccessionNumber", "StudyDate", "SeriesDate")
        for keyword in names if leaky else (*names, "ReferringPhysicianName"):
            if keyword in ds:
                delattr(ds, keyword)
        for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
            if keyword in ds:
                setattr(ds, keyword, run.keys.uid(str(getattr(ds, keyword))))
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.PatientIdentityRemoved = "YES"


def use_test_script(monkeypatch: pytest.MonkeyPatch) -> Script:
    """Saved scripts load as :class:`RemapScript`: the tests of the way out, on a script
    whose every effect they know (the real loaders are tested with real scripts below)."""
    script = RemapScript()

    def load(kind: str, text: str, pixel_text: str = "") -> Script:
        assert text == SCRIPT_TEXT
        return script

    monkeypatch.setattr(scripts, "load", load)
    return script


def save_script(
    ctx: Context,
    project: str,
    *,
    text: str = SCRIPT_TEXT,
    kind: str = ScriptKind.PROFILE,
    pixel_text: str = "",
) -> None:
    """The project's export script, version 1, as the Manage tab saves one."""
    with ctx.db.write() as db:
        project_id = db.scalar(select(Project.id).where(Project.label == project))
        db.add(
            DeidScript(
                project_id=project_id,
                purpose=Purpose.EXPORT.value,
                version=1,
                kind=kind,
                text=text,
                pixel_text=pixel_text,
                sha256=hashlib.sha256(text.encode()).hexdigest(),
                enabled=True,
                created_by="owner",
            )
        )


def ultrasound(study: Study) -> Dataset:
    """An ultrasound instance of ``study`` (series 9) that declares burned-in annotation."""
    ds = mr_instance(study, Series(9, SeriesDescription="US sweep", Modality="US"), 1, rows=16)
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.6.1"  # Ultrasound Image Storage
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.BurnedInAnnotation = "YES"
    return ds


def import_session(
    client: TestClient,
    auth: Any,
    tmp: Path,
    project: str,
    subject: str,
    session: str,
    study: Study,
    *,
    extra: Sequence[Dataset] = (),
) -> None:
    """Archive a session of two MR series (three instances each), and ``extra``
    instances, through the import service."""
    folder = tmp / f"{project}-{session}"
    write_study(folder, study, [Series(n, SeriesDescription=f"series {n}") for n in (1, 2)])
    for n, ds in enumerate(extra):
        ds.save_as(folder / f"extra-{n}.dcm", enforce_file_format=True)
    body = io.BytesIO()
    with zipfile.ZipFile(body, "w") as zf:
        for path in sorted(folder.iterdir()):
            zf.write(path, path.name)
    r = client.post(
        IMPORT,
        params={
            "dest": f"/archive/projects/{project}",
            "SUBJECT_ID": subject,
            "EXPT_LABEL": session,
        },
        files={"file": ("study.zip", body.getvalue(), "application/zip")},
        auth=auth,
    )
    assert r.status_code == 200, r.text


def stored_files(ctx: Context, project: str) -> dict[str, str]:
    """Every file of ``project`` on disk, relative to the archive, with its SHA-256."""
    root = ctx.store.archive / project
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def read_member(data: bytes) -> Dataset:
    return dcmread(io.BytesIO(data))


# A real CTP DicomAnonymizer script and DicomPixelAnonymizer rule (scandepot.deid.ctp),
# saved as a project's row: names and IDs from the SUBJECT label, dates and free text
# removed, UIDs hashed; the top-left corner of every ultrasound image blanked.
CTP_SCRIPT = """<script>
 <p t="UIDROOT">1.2.826.0.1.3680043.10.1</p>
 <e en="T" t="00080018" n="SOPInstanceUID">@hashuid(@UIDROOT,this)</e>
 <e en="T" t="0020000D" n="StudyInstanceUID">@hashuid(@UIDROOT,this)</e>
 <e en="T" t="0020000E" n="SeriesInstanceUID">@hashuid(@UIDROOT,this)</e>
 <e en="T" t="00100010" n="PatientName">@param(@SUBJECT)</e>
 <e en="T" t="00100020" n="PatientID">@param(@SUBJECT)</e>
 <e en="T" t="00100030" n="PatientBirthDate">@remove()</e>
 <e en="T" t="00080050" n="AccessionNumber">@remove()</e>
 <e en="T" t="00080020" n="StudyDate">@remove()</e>
 <e en="T" t="00080030" n="StudyTime">@remove()</e>
 <e en="T" t="00081030" n="StudyDescription">@remove()</e>
 <e en="T" t="00080080" n="InstitutionName">@remove()</e>
 <e en="T" t="00081010" n="StationName">@remove()</e>
 <e en="T" t="00080090" n="ReferringPhysicianName">@remove()</e>
 <r en="T" t="privategroups">Remove private groups</r>
</script>"""
CTP_PIXELS = '{ Modality.equals("US") } (0,0,4,4)'
