"""Clinical records carried along with pushes: keyed by the Patient ID pseudonym that the
same subject's images carry out, dates moved by the same days, identifying text left out."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from pydicom import Dataset, dcmread

from scandepot.access.actors import SYSTEM
from scandepot.archive import subjects
from scandepot.archive.subjects import SubjectCreate
from scandepot.clinical import records
from scandepot.clinical.outbound import deidentified_records
from scandepot.clinical.records import Target
from scandepot.context import Context
from scandepot.deid import scripts
from scandepot.dicom.synthetic import Study
from scandepot.errors import Conflict
from scandepot.export import deidentified
from tests.clinical.world import (
    PROFILE_BASIC,
    archive_study,
    ids,
    save_export_script,
    set_schemas,
)


def _images_out(
    ctx: Context, project: str, path_bytes: bytes, subject: str, session: str
) -> Dataset:
    """One stored instance through the project's export script, as downloads send it."""
    with ctx.db.write() as db:
        project_id = ids(ctx, project, subject)[0]
        deid = deidentified.load(db, project_id, project)
    return deid.run(path_bytes, subject=subject, session=session).dataset


def test_record_carries_the_images_patient_id_and_date_shift(
    ctx: Context, make_project: Callable[..., str]
) -> None:
    project = make_project()
    set_schemas(ctx, project)
    save_export_script(ctx, project)
    study = Study(PatientID="HOSP-4711", PatientName="Doe^Jane", StudyDate="20240301")
    held = archive_study(ctx, project, "S1", "E1", study)
    values = {
        "diagnosis": "MCI",
        "weight": 71.5,
        "smoker": False,
        "diagnosis_date": "2024-02-15",
        "notes": "Jane Doe, referred by Dr Who",
    }
    records.put(ctx, SYSTEM, Target(project, "S1"), values)
    records.put(
        ctx, SYSTEM, Target(project, session="E1"), {"mmse": 27, "visit_date": "2024-03-01"}
    )

    image = _images_out(ctx, project, held.files[0].read_bytes(), "S1", "E1")
    project_id, subject_id, session_ids = ids(ctx, project, "S1")
    with ctx.db.write() as db:
        found = deidentified_records(db, project_id, [subject_id])
    assert len(found) == 1
    out = found[0]
    # The same pseudonym as the image, and not the original.
    assert out.patient_id == str(image.PatientID)
    assert out.patient_id != "HOSP-4711"
    # Dates moved by the days the image's study date moved.
    shift = dt.datetime.strptime(str(image.StudyDate), "%Y%m%d").date() - dt.date(2024, 3, 1)
    assert shift.days < 0
    assert out.values["diagnosis_date"] == (dt.date(2024, 2, 15) + shift).isoformat()
    assert "notes" not in out.values
    assert list(out.values) == ["weight", "diagnosis", "smoker", "diagnosis_date"]
    assert out.values["smoker"] is False
    assert out.values["diagnosis"] == "MCI" and out.values["weight"] == 71.5
    body = out.as_json()
    assert set(body) == {"patient_id", "values", "schema_version", "sessions"}
    (session,) = body["sessions"]
    assert session["study_instance_uid"] == str(image.StudyInstanceUID)
    assert session["study_instance_uid"] != study.StudyInstanceUID
    assert session["values"] == {
        "mmse": 27,
        "visit_date": (dt.date(2024, 3, 1) + shift).isoformat(),
    }
    assert "S1" not in str(body) and "HOSP-4711" not in str(body)


def test_pseudonym_table_and_a_script_without_dates(
    ctx: Context, make_project: Callable[..., str]
) -> None:
    """The pseudonym table's ptid wins, as for images; a script that removes dates takes
    the record's dates out; a push's own script is used when given."""
    project = make_project()
    set_schemas(ctx, project)
    save_export_script(ctx, project)
    from scandepot.deid import pseudonyms

    pseudonyms.import_csv(ctx, SYSTEM, project, "ptid,HOSP-1,SUBJ-0001\n")
    held = archive_study(ctx, project, "S2", "E2", Study(PatientID="HOSP-1"))
    records.put(
        ctx, SYSTEM, Target(project, "S2"), {"diagnosis": "HC", "diagnosis_date": "2020-01-01"}
    )
    project_id, subject_id, _ = ids(ctx, project, "S2")
    basic = scripts.load("profile", PROFILE_BASIC)
    with ctx.db.write() as db:
        (out,) = deidentified_records(db, project_id, [subject_id], script=basic)
    assert out.patient_id == "SUBJ-0001"
    assert out.values == {"diagnosis": "HC"}
    image = _images_out(ctx, project, held.files[0].read_bytes(), "S2", "E2")
    assert str(image.PatientID) == "SUBJ-0001"


def test_subjects_without_records_are_left_out_and_no_script_is_refused(
    ctx: Context, make_project: Callable[..., str]
) -> None:
    project = make_project()
    set_schemas(ctx, project)
    subjects.create(ctx, SYSTEM, project, SubjectCreate(label="S3"))
    subjects.create(ctx, SYSTEM, project, SubjectCreate(label="S4"))
    records.put(ctx, SYSTEM, Target(project, "S4"), {"diagnosis": "AD"})
    project_id, s3, _ = ids(ctx, project, "S3")
    _, s4, _ = ids(ctx, project, "S4")
    with ctx.db.write() as db, pytest.raises(Conflict, match="no export"):
        deidentified_records(db, project_id, [s3, s4])
    save_export_script(ctx, project)
    with ctx.db.write() as db:
        found = deidentified_records(db, project_id, [s3, s4])
    # S4 has no session: its label stands for the Patient ID, through the same keys.
    assert [r.subject_id for r in found] == [s4]
    assert found[0].patient_id not in ("S4", "") and found[0].values == {"diagnosis": "AD"}


# CTP scripts (docs/deid-ctp.md): the Patient ID from the pseudonym table, and dates moved
# by a fixed number of days, or all set to one dummy date (then they do not go out).
CTP_SHIFT = """<script>
 <p t="DATEINC">-365</p>
 <e en="T" t="00100020" n="PatientID">@lookup(this,ptid)</e>
 <e en="T" t="00080020" n="StudyDate">@incrementdate(this,@DATEINC)</e>
</script>"""
CTP_DUMMY = """<script>
 <e en="T" t="00100020" n="PatientID">@lookup(this,ptid)</e>
 <e en="T" t="00080020" n="StudyDate">19000101</e>
</script>"""


@pytest.mark.parametrize(("text", "moved"), [(CTP_SHIFT, "2023-02-15"), (CTP_DUMMY, None)])
def test_a_ctp_script_as_the_images_get_it(
    ctx: Context, make_project: Callable[..., str], text: str, moved: str | None
) -> None:
    project = make_project()
    set_schemas(ctx, project)
    from scandepot.deid import in_force, pseudonyms
    from scandepot.deid.model import Run

    pseudonyms.import_csv(ctx, SYSTEM, project, "ptid,HOSP-7,SUBJ-0007\n")
    held = archive_study(ctx, project, "S7", "E7", Study(PatientID="HOSP-7", StudyDate="20240301"))
    records.put(
        ctx, SYSTEM, Target(project, "S7"), {"diagnosis": "AD", "diagnosis_date": "2024-02-15"}
    )
    project_id, subject_id, _ = ids(ctx, project, "S7")
    script = scripts.load("ctp", text)
    with ctx.db.write() as db:
        (out,) = deidentified_records(db, project_id, [subject_id], script=script)
        keys = in_force.keys_of(db, project_id)
    image = dcmread(held.files[0])
    script.apply(image, Run(keys, {"PROJECT": project, "SUBJECT": "S7", "SESSION": "E7"}))
    assert out.patient_id == str(image.PatientID) == "SUBJ-0007"
    assert out.values.get("diagnosis_date") == moved
    assert str(image.StudyDate) == ("20230302" if moved else "19000101")
