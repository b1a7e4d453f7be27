"""A script tried on a sample instance: the before/after table, the verification's
report, the project's pseudonyms used, and nothing stored; the table's rows for
attributes replaced, emptied, removed and added, inside sequences too."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from sqlalchemy import func, select

from scandepot.access.users import actor_for
from scandepot.catalog.access import AuditEvent, User
from scandepot.catalog.archive import File
from scandepot.catalog.deid import DeidKey, DeidScript, Pseudonym
from scandepot.context import Context
from scandepot.deid import diff, manage, pseudonyms, sample
from scandepot.deid.manage import ScriptIn
from scandepot.deid.model import ScriptError
from scandepot.errors import Forbidden, Invalid, NotFound
from tests.deid.project_world import (
    CTP_BROKEN,
    CTP_NAME_ONLY,
    PROFILE,
    Archived,
    archive_mr_small,
    mr_small,
)


@pytest.fixture
def archived(ctx: Context, make_project: Callable[..., str]) -> Archived:
    return archive_mr_small(ctx, make_project())


@pytest.fixture
def owner(users: dict[str, User]) -> Any:
    return actor_for(users["owner"])


def stored(ctx: Context) -> tuple[int, ...]:
    with ctx.db.read() as db:
        return tuple(
            int(db.scalar(select(func.count()).select_from(m)) or 0)
            for m in (DeidScript, DeidKey, Pseudonym, File, AuditEvent)
        )


def row(outcome: sample.Outcome, tag: str) -> diff.Row:
    [found] = [r for r in outcome.rows if r.tag == tag]
    return found


def upload() -> sample.Upload:
    return sample.Upload("MR_small.dcm", mr_small().read_bytes())


def test_a_script_not_saved_on_an_uploaded_file(
    ctx: Context, make_project: Callable[..., str], owner: Any
) -> None:
    project = make_project()
    before = stored(ctx)
    outcome = sample.run(ctx, owner, project, sample.Given("ctp", CTP_NAME_ONLY), upload())
    assert (outcome.script, outcome.sample) == ("not saved", "MR_small.dcm")
    name = row(outcome, "(0010,0010)")
    assert (name.keyword, name.before, name.after, name.action) == (
        "PatientName",
        "CompressedSamples^MR1",
        "",
        "emptied",
    )
    # The Patient ID is left: the verification says so, and the test does not pass.
    patient_id = row(outcome, "(0010,0020)")
    assert (patient_id.before, patient_id.after, patient_id.action) == ("4MR1", "4MR1", "kept")
    assert outcome.status == "not_deidentified" and not outcome.passed
    assert any(f.path == "(0010,0020)" for f in outcome.report.findings)
    assert "(0010,0020)" in outcome.message
    assert stored(ctx) == before  # no key made, nothing recorded


def test_the_saved_profile_on_an_archived_instance_stores_nothing(
    ctx: Context, archived: Archived, owner: Any
) -> None:
    manage.save(ctx, owner, archived.project, "archive", ScriptIn(kind="profile", text=PROFILE))
    with ctx.db.read() as db:
        path_count = db.scalar(select(func.count(File.id)))
    before = stored(ctx)
    outcome = sample.run(
        ctx,
        owner,
        archived.project,
        sample.Saved("archive"),
        sample.Archived(archived.session, archived.SOPInstanceUID),
    )
    assert outcome.script.startswith("archive v1 sha256:")
    assert outcome.sample == f"session {archived.session}, instance {archived.SOPInstanceUID}"
    assert outcome.status == "passed", outcome.message
    name = row(outcome, "(0010,0010)")
    assert name.before == "CompressedSamples^MR1" and name.action != "kept"
    assert row(outcome, "(0008,0018)").before == archived.SOPInstanceUID
    assert stored(ctx) == before
    with ctx.db.read() as db:
        assert db.scalar(select(func.count(File.id))) == path_count


def test_the_project_pseudonym_table_is_used(ctx: Context, archived: Archived, owner: Any) -> None:
    pseudonyms.import_csv(ctx, owner, archived.project, "ptid,4MR1,SUBJ-001\n")
    script = (
        "<script>\n"
        '<e en="T" t="00100020" n="PatientID">@lookup(this,ptid)</e>\n'
        '<e en="T" t="00100010" n="PatientName">@empty()</e>\n'
        "</script>\n"
    )
    outcome = sample.run(
        ctx, owner, archived.project, sample.Given("ctp", script), sample.Archived(archived.session)
    )
    patient_id = row(outcome, "(0010,0020)")
    assert (patient_id.before, patient_id.after, patient_id.action) == (
        "4MR1",
        "SUBJ-001",
        "replaced",
    )


def test_what_cannot_be_tried(
    ctx: Context, archived: Archived, owner: Any, users: dict[str, User]
) -> None:
    project = archived.project
    with pytest.raises(NotFound, match="No archive script is saved"):
        sample.run(ctx, owner, project, sample.Saved("archive"), upload())
    with pytest.raises(ScriptError) as broken:
        sample.run(ctx, owner, project, sample.Given("ctp", CTP_BROKEN), upload())
    assert broken.value.line == 3
    with pytest.raises(Invalid, match=r"^notes.txt: not a DICOM file"):
        text = sample.Upload("notes.txt", b"hi")
        sample.run(ctx, owner, project, sample.Given("ctp", CTP_NAME_ONLY), text)
    with pytest.raises(NotFound, match="has instance '1.2.3'"):
        sample.run(
            ctx,
            owner,
            project,
            sample.Given("ctp", CTP_NAME_ONLY),
            sample.Archived(archived.session, "1.2.3"),
        )
    # Members read the session, but the test is the owners' (the Manage tab's).
    with pytest.raises(Forbidden):
        sample.run(
            ctx,
            actor_for(users["member"]),
            project,
            sample.Given("ctp", CTP_NAME_ONLY),
            sample.Archived(archived.session),
        )


def test_rows_inside_sequences_and_what_happened() -> None:
    before = Dataset()
    before.PatientName = "Doe^Jane"
    before.PatientID = "P1"
    before.StudyDescription = "Brain"
    item = Dataset()
    item.ReferencedSOPInstanceUID = "1.2.3"
    before.ReferencedStudySequence = Sequence([item])
    after = Dataset()
    after.PatientName = ""
    after.PatientID = "SUBJ-1"
    changed = Dataset()
    changed.ReferencedSOPInstanceUID = "2.25.9"
    after.ReferencedStudySequence = Sequence([changed])
    after.PatientIdentityRemoved = "YES"
    found = {r.tag: (r.keyword, r.before, r.after, r.action) for r in diff.rows(before, after)}
    assert found == {
        "(0010,0010)": ("PatientName", "Doe^Jane", "", "emptied"),
        "(0010,0020)": ("PatientID", "P1", "SUBJ-1", "replaced"),
        "(0008,1030)": ("StudyDescription", "Brain", None, "removed"),
        "(0008,1110)": ("ReferencedStudySequence", "1 item", "1 item", "kept"),
        "(0008,1110)[0]>(0008,1155)": ("ReferencedSOPInstanceUID", "1.2.3", "2.25.9", "replaced"),
        "(0012,0062)": ("PatientIdentityRemoved", None, "YES", "added"),
    }


def test_pixel_data_is_compared_by_its_bytes() -> None:
    ds = dcmread(mr_small())
    blanked = dcmread(mr_small())
    blanked.PixelData = bytes(len(ds.PixelData))
    [pixels] = [r for r in diff.rows(ds, blanked) if r.tag == "(7FE0,0010)"]
    assert pixels.action == "replaced"
    assert pixels.before is not None and pixels.before.startswith(f"<{len(ds.PixelData)} bytes")
    assert all(r.action == "kept" for r in diff.rows(ds, dcmread(mr_small())))
