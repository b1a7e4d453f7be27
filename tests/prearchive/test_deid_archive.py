"""A project's archive script, run on every instance as it is archived: by C-STORE
(dcmtk's storescu), by upload (zip) and by STOW-RS, the archive holds only what the
script made; the catalog describes those files; a failure keeps the session in the
prearchive with the reason; a kill -9 mid-archive leaves it whole."""

from __future__ import annotations

import datetime as dt
import hashlib
import signal
import subprocess
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydicom import Dataset, dcmread
from sqlalchemy import func, select

from scandepot.access.actors import SYSTEM
from scandepot.access.users import actor_for
from scandepot.archive.check import check
from scandepot.catalog.archive import File, Project, Scan, Session, Subject
from scandepot.catalog.pipelines import JobStatus
from scandepot.catalog.prearchive import Instance, StagedSession, Status
from scandepot.catalog.transfers import TransferKind
from scandepot.context import Context
from scandepot.deid.in_force import keys_of
from scandepot.deid.model import Keys
from scandepot.dicom.synthetic import Series, Study, to_bytes
from scandepot.events import SessionArchived, SessionNeedsAttention
from scandepot.prearchive import archiver, journal, operations, worker
from scandepot.prearchive.deidentify import DeidFailed
from scandepot.transfers import service
from scandepot.transfers.requests import TransferRequest
from tests import command
from tests.helpers import ADMIN, API, after_archive, write_study
from tests.ingest.test_stow import actor, instance, multipart, referenced, run
from tests.ingest.test_upload import zip_dir
from tests.prearchive import deid_script
from tests.transfers.conftest import run_transfers, two_projects

# Real scripts, saved as a project's rows: the profile, and a CTP DicomAnonymizer script.
PROFILE = '{"options": []}'  # PS3.15 Annex E, the Basic profile
CTP = """<script>
  <p t="UIDROOT">1.2.840.113654.2.70.1</p>
  <p t="SITEID">SITE7</p>
  <p t="DATEINC">-30</p>
  <e en="T" t="00100010" n="PatientName">@hashname(this,6,2)</e>
  <e en="T" t="00100020" n="PatientID">@hashptid(@SITEID,this)</e>
  <e en="T" t="00080020" n="StudyDate">@incrementdate(this,@DATEINC)</e>
  <e en="T" t="0020000D" n="StudyInstanceUID">@hashuid(@UIDROOT,this)</e>
  <e en="T" t="0020000E" n="SeriesInstanceUID">@hashuid(@UIDROOT,this)</e>
  <e en="T" t="00080018" n="SOPInstanceUID">@hashuid(@UIDROOT,this)</e>
  <e en="T" t="00080050" n="AccessionNumber">@remove()</e>
  <e en="T" t="00100030" n="PatientBirthDate">@remove()</e>
  <e en="T" t="00080090" n="ReferringPhysicianName">@remove()</e>
  <e en="T" t="00080080" n="InstitutionName">@remove()</e>
  <e en="T" t="00081010" n="StationName">@remove()</e>
  <e en="T" t="00081030" n="StudyDescription">@remove()</e>
  <r en="T" t="privategroups">Remove private groups</r>
</script>
"""


@pytest.fixture(autouse=True)
def label_script(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("scandepot.deid.scripts.load", deid_script.load)


@pytest.fixture
def events(ctx: Context) -> list[Any]:
    seen: list[Any] = []
    ctx.events.subscribe(SessionArchived, seen.append)
    ctx.events.subscribe(SessionNeedsAttention, seen.append)
    return seen


def keys(ctx: Context, project: str) -> Keys:
    with ctx.db.read() as db:
        project_id = db.scalar(select(Project.id).where(Project.label == project))
        assert project_id is not None
        return keys_of(db, project_id, create=False)


def archived_files(ctx: Context) -> list[Path]:
    return sorted(p for p in ctx.store.archive.rglob("*") if p.is_file())


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def assert_archive_holds_the_scripts_output(
    ctx: Context, originals: list[bytes], *, label: str
) -> tuple[Session, list[Dataset]]:
    """Whatever the script: the archive holds one de-identified file per original and
    nothing else of them (no original bytes, names, IDs or UIDs); each catalog row (the
    instance, its file, its scan, the session) says what its file holds."""
    sent = [dcmread(_io(raw)) for raw in originals]
    files = [p for p in archived_files(ctx) if p.suffix == ".dcm"]
    assert len(files) == len(originals)
    everything = b"".join(p.read_bytes() for p in archived_files(ctx))
    assert not {sha256(raw) for raw in originals} & {
        sha256(p.read_bytes()) for p in archived_files(ctx)
    }
    needles = {b"Doe^Jane", b"PAT001", b"ACC001", b"Imaging Centre", b"Ref^Doc"}
    needles |= {ds.StudyInstanceUID.encode() for ds in sent}
    needles |= {uid.encode() for ds in sent for uid in (ds.SOPInstanceUID, ds.SeriesInstanceUID)}
    assert [n for n in needles if n in everything] == []
    with ctx.db.read() as db:
        [session] = db.scalars(select(Session))
        rows = {
            i.SOPInstanceUID: (i, f)
            for i, f in db.execute(
                select(Instance, File).join(File, File.id == Instance.file_id)
            ).all()
        }
        scans = {s.label: s.SeriesInstanceUID for s in db.scalars(select(Scan))}
        db.expunge_all()
    found = []
    for path in files:
        raw = path.read_bytes()
        ds = dcmread(path)
        found.append(ds)
        row, record = rows.pop(ds.SOPInstanceUID)
        assert path.name == f"{ds.SOPInstanceUID}.dcm"
        assert (row.StudyInstanceUID, row.SeriesInstanceUID) == (
            ds.StudyInstanceUID,
            ds.SeriesInstanceUID,
        )
        assert (row.SeriesNumber, row.InstanceNumber) == (ds.SeriesNumber, ds.InstanceNumber)
        assert scans[str(ds.SeriesNumber)] == ds.SeriesInstanceUID
        assert (record.size, record.sha256) == (len(raw), sha256(raw))
        assert (row.size, row.sha256, row.md5) == (
            len(raw),
            sha256(raw),
            hashlib.md5(raw).hexdigest(),
        )
        assert row.spool_path is None and row.staged_id is None
        assert session.StudyInstanceUID == ds.StudyInstanceUID
        assert session.PatientName == (str(ds.get("PatientName") or "") or None)
        assert session.PatientID == (ds.get("PatientID") or None)
        assert session.AccessionNumber == (ds.get("AccessionNumber") or None)
        assert session.PatientBirthDate == (ds.get("PatientBirthDate") or None)
        assert session.InstitutionName == (ds.get("InstitutionName") or None)
        assert session.date == _date(ds.get("StudyDate"))
    assert rows == {}  # no instance catalogued without its file
    assert session.deid == label
    report = check(ctx)
    assert report.ok, report
    assert list(ctx.store.tmp.iterdir()) == []  # no de-identified copy left behind
    return session, found


def _date(value: str | None) -> dt.date | None:
    return dt.datetime.strptime(value, "%Y%m%d").date() if value else None


def assert_deidentified(
    ctx: Context, project: str, originals: list[bytes], *, subject: str, label: str
) -> Session:
    """By the test's :class:`deid_script.LabelScript`: names and IDs are the subject's
    label, UIDs the project key's, dates shifted by the patient's shift."""
    session, found = assert_archive_holds_the_scripts_output(ctx, originals, label=label)
    key = keys(ctx, project)
    sent = {key.uid(ds.SOPInstanceUID): ds for ds in (dcmread(_io(raw)) for raw in originals)}
    shifted = dt.date(2024, 3, 1) + dt.timedelta(days=key.shift_days("PAT001"))
    for ds in found:
        original = sent.pop(ds.SOPInstanceUID)
        assert ds.PatientName == subject and ds.PatientID == subject
        assert ds.StudyInstanceUID == key.uid(original.StudyInstanceUID)
        assert ds.SeriesInstanceUID == key.uid(original.SeriesInstanceUID)
        assert ds.StudyDate == shifted.strftime("%Y%m%d")
        assert ds.PixelData == original.PixelData
    assert sent == {}
    assert session.StudyDescription is None and session.date == shifted
    return session


def _io(raw: bytes) -> Any:
    from io import BytesIO

    return BytesIO(raw)


def staged(ctx: Context) -> list[StagedSession]:
    with ctx.db.read() as db:
        found = list(db.scalars(select(StagedSession).order_by(StagedSession.id)))
        db.expunge_all()
        return found


# -- the three ways in -------------------------------------------------------------------


@pytest.mark.interop
def test_c_store_is_archived_de_identified(
    ctx: Context,
    make_project: Callable[..., str],
    storescu: Callable[..., subprocess.CompletedProcess[str]],
    events: list[Any],
    tmp_path: Path,
) -> None:
    ctx.settings.prearchive_quiet_s = 0
    make_project("private", label="PILOT", upload_destination="archive")
    label = deid_script.save(ctx, "PILOT")
    study = Study(StudyDescription="xnat://PILOT/sub-01/ses-01")
    files = write_study(tmp_path / "in", study, [Series(1, "T1w"), Series(2, "rest BOLD")])
    assert storescu(*files).returncode == 0
    assert worker.run_once(ctx) == 1
    assert staged(ctx) == []
    originals = [p.read_bytes() for p in files]
    session = assert_deidentified(ctx, "PILOT", originals, subject="sub-01", label=label)
    [archived] = [e for e in events if isinstance(e, SessionArchived)]
    assert archived.files == len(files) and archived.session == session.label == "ses-01"


@pytest.mark.interop
def test_c_store_through_the_basic_profile(
    ctx: Context,
    make_project: Callable[..., str],
    storescu: Callable[..., subprocess.CompletedProcess[str]],
    tmp_path: Path,
) -> None:
    ctx.settings.prearchive_quiet_s = 0
    make_project("private", label="PILOT", upload_destination="archive")
    label = deid_script.save(ctx, "PILOT", PROFILE)
    study = Study(StudyDescription="xnat://PILOT/sub-01/ses-01")
    files = write_study(tmp_path / "in", study, [Series(1, "T1w"), Series(2, "rest BOLD")])
    assert storescu(*files).returncode == 0
    assert worker.run_once(ctx) == 1
    originals = [p.read_bytes() for p in files]
    session, found = assert_archive_holds_the_scripts_output(ctx, originals, label=label)
    assert {ds.StudyInstanceUID for ds in found} == {keys(ctx, "PILOT").uid(study.StudyInstanceUID)}
    assert session.label == "ses-01"
    with ctx.db.read() as db:
        assert db.scalar(select(Subject.label)) == "sub-01"


def test_an_upload_is_archived_de_identified(
    ctx: Context,
    client: TestClient,
    make_project: Callable[..., str],
    actors: dict[str, Any],
    tmp_path: Path,
) -> None:
    ctx.settings.prearchive_quiet_s = 3600
    make_project("private", label="PILOT")
    label = deid_script.save(ctx, "PILOT")
    files = write_study(tmp_path / "in", Study(), [Series(1, "T1w"), Series(2, "T2w")])
    body = zip_dir(tmp_path / "in", tmp_path / "up.zip")
    params = {"destination": "archive", "subject": "s01", "session": "e01"}
    r = client.post(
        f"{API}/projects/PILOT/import", content=body, params=params, auth=actors["owner"]
    )
    assert r.status_code == 200, r.text
    after_archive(client.app)
    originals = [p.read_bytes() for p in files]
    assert_deidentified(ctx, "PILOT", originals, subject="s01", label=label)
    # What the API serves is the catalog: the de-identified study.
    got = client.get(f"{API}/projects/PILOT/sessions/e01", auth=ADMIN).json()
    assert got["StudyInstanceUID"] == keys(ctx, "PILOT").uid(dcmread(files[0]).StudyInstanceUID)


def test_stow_is_archived_de_identified(
    ctx: Context, make_project: Callable[..., str], users: Any
) -> None:
    project = make_project("private", upload_destination="archive")
    label = deid_script.save(ctx, project)
    study = Study(StudyDescription=f"xnat://{project}/sub-03/ses-03")
    parts = [to_bytes(instance(study, n)) for n in (1, 2, 3)]
    answer = run(ctx, actor(ctx, "member"), multipart(parts), project=project)
    assert answer.status == 200 and len(referenced(answer)) == 3
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    assert worker.run_once(ctx, clock=lambda: later) == 1
    assert staged(ctx) == []
    assert_deidentified(ctx, project, parts, subject="sub-03", label=label)


# -- real scripts, saved as a project's rows ----------------------------------------------


def test_the_basic_profile_de_identifies_two_uploads_alike(
    ctx: Context,
    client: TestClient,
    make_project: Callable[..., str],
    actors: dict[str, Any],
    tmp_path: Path,
) -> None:
    """The profile, saved as the project's archive script: an upload archived through it,
    then the rest of the study in a second upload, merged with the same pseudonyms."""
    ctx.settings.prearchive_quiet_s = 3600
    make_project("private", label="PILOT")
    label = deid_script.save(ctx, "PILOT", PROFILE)
    study = Study()
    first = write_study(tmp_path / "a", study, [Series(1, "T1w"), Series(2, "T2w")])
    second = write_study(tmp_path / "b", study, [Series(3, "DWI")])
    labels = {"destination": "archive", "subject": "s01", "session": "e01"}
    for folder, more in (("a", {}), ("b", {"overwrite": "append"})):
        body = zip_dir(tmp_path / folder, tmp_path / f"{folder}.zip")
        url = f"{API}/projects/PILOT/import"
        r = client.post(url, content=body, params={**labels, **more}, auth=actors["owner"])
        assert r.status_code == 200, r.text
    after_archive(client.app)
    originals = [p.read_bytes() for p in [*first, *second]]
    session, found = assert_archive_holds_the_scripts_output(ctx, originals, label=label)
    key = keys(ctx, "PILOT")
    assert {ds.StudyInstanceUID for ds in found} == {key.uid(study.StudyInstanceUID)}
    assert {ds.SOPInstanceUID for ds in found} == {
        key.uid(dcmread(p).SOPInstanceUID) for p in [*first, *second]
    }
    assert {ds.PatientIdentityRemoved for ds in found} == {"YES"}
    assert len({str(ds.PatientID) for ds in found}) == 1  # one pseudonym for the patient


def test_a_ctp_script_gives_two_stow_requests_one_session(
    ctx: Context, make_project: Callable[..., str], users: Any
) -> None:
    """A CTP DicomAnonymizer script, saved as the project's archive script: two STOW
    requests, each archived on its own, make one session (CTP's hashes are the same)."""
    project = make_project("private", label="PILOT", upload_destination="archive")
    label = deid_script.save(ctx, project, CTP, kind="ctp")
    study = Study(StudyDescription="xnat://PILOT/sub-01/ses-01")
    parts = [to_bytes(instance(study, n)) for n in (1, 2, 3, 4)]
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    for half in (parts[:2], parts[2:]):
        answer = run(ctx, actor(ctx, "member"), multipart(half), project=project)
        assert answer.status == 200
        assert worker.run_once(ctx, clock=lambda: later) == 1
        assert staged(ctx) == []
    session, found = assert_archive_holds_the_scripts_output(ctx, parts, label=label)
    assert {ds.StudyDate for ds in found} == {"20240131"}  # @incrementdate(this,-30)
    assert all(ds.StudyInstanceUID.startswith("1.2.840.113654.2.70.1.") for ds in found)
    assert "InstitutionName" not in found[0] and "AccessionNumber" not in found[0]
    assert session.label == "ses-01" and session.deid == label


# -- consistency -------------------------------------------------------------------------


def test_two_uploads_of_one_study_get_the_same_pseudonyms(
    ctx: Context,
    client: TestClient,
    make_project: Callable[..., str],
    actors: dict[str, Any],
    tmp_path: Path,
) -> None:
    """The second half of a study merges into the session the first made (the same
    de-identified Study Instance UID), and sending a file again adds nothing."""
    ctx.settings.prearchive_quiet_s = 3600
    make_project("private", label="PILOT")
    label = deid_script.save(ctx, "PILOT")
    study = Study()
    first = write_study(tmp_path / "a", study, [Series(1, "T1w")])
    second = write_study(tmp_path / "b", study, [Series(2, "T2w")])
    again = write_study(tmp_path / "c", study, [Series(3, "DWI")], per_series=1)
    (tmp_path / "c" / "1-1.dcm").write_bytes(first[0].read_bytes())
    labels = {"destination": "archive", "subject": "s01", "session": "e01"}

    def upload(folder: str, **more: str) -> Any:
        body = zip_dir(tmp_path / folder, tmp_path / f"{folder}.zip")
        url = f"{API}/projects/PILOT/import"
        return client.post(url, content=body, params={**labels, **more}, auth=actors["owner"])

    assert upload("a").status_code == 200
    r = upload("b", overwrite="append")
    assert r.status_code == 200, r.text
    r = upload("c", overwrite="append")
    assert r.status_code == 200, r.text
    after_archive(client.app)
    sent = [p.read_bytes() for p in [*first, *second, again[0]]]
    assert_deidentified(ctx, "PILOT", sent, subject="s01", label=label)
    with ctx.db.read() as db:
        assert db.scalar(select(func.count()).select_from(Session)) == 1
        assert sorted(db.scalars(select(Scan.label))) == ["1", "2", "3"]


def test_another_project_gets_other_pseudonyms(
    ctx: Context, make_project: Callable[..., str], users: Any
) -> None:
    study = Study(StudyDescription="xnat://A/s/e")
    made = {}
    for project in ("A", "B"):
        make_project("private", label=project, upload_destination="archive")
        deid_script.save(ctx, project)
        study.StudyDescription = f"xnat://{project}/s/e"
        run(ctx, actor(ctx, "member"), multipart([to_bytes(instance(study))]), project=project)
        later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
        assert worker.run_once(ctx, clock=lambda: later) == 1  # noqa: B023
        with ctx.db.read() as db:
            made[project] = db.scalar(
                select(Session.StudyInstanceUID).join(Project).where(Project.label == project)
            )
    assert made["A"] != made["B"]
    assert made["A"] == keys(ctx, "A").uid(study.StudyInstanceUID)


def test_a_script_turned_off_archives_as_received(
    ctx: Context, make_project: Callable[..., str], users: Any
) -> None:
    project = make_project("private", upload_destination="archive")
    deid_script.save(ctx, project)
    deid_script.save(ctx, project, enabled=False)
    study = Study(StudyDescription=f"xnat://{project}/s/e")
    raw = to_bytes(instance(study))
    run(ctx, actor(ctx, "member"), multipart([raw]), project=project)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    assert worker.run_once(ctx, clock=lambda: later) == 1
    [path] = [p for p in archived_files(ctx) if p.suffix == ".dcm"]
    assert path.read_bytes() == raw
    with ctx.db.read() as db:
        [session] = db.scalars(select(Session))
        assert session.deid is None and session.StudyInstanceUID == study.StudyInstanceUID


# -- failures ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (deid_script.label_script(refuse="rest BOLD"), "series 'rest BOLD' may not be archived"),
        (deid_script.label_script(explode=True), "ZeroDivisionError: division by zero"),
    ],
)
def test_a_failing_script_keeps_the_session_in_the_prearchive(
    ctx: Context,
    client: TestClient,
    make_project: Callable[..., str],
    actors: dict[str, Any],
    events: list[Any],
    tmp_path: Path,
    text: str,
    reason: str,
) -> None:
    ctx.settings.prearchive_quiet_s = 3600
    make_project("private", label="PILOT")
    deid_script.save(ctx, "PILOT", text)
    files = write_study(tmp_path / "in", Study(), [Series(1, "T1w"), Series(2, "rest BOLD")])
    body = zip_dir(tmp_path / "in", tmp_path / "up.zip")
    params = {"destination": "archive", "subject": "s01", "session": "e01"}
    r = client.post(
        f"{API}/projects/PILOT/import", content=body, params=params, auth=actors["owner"]
    )
    assert r.status_code == 409, r.text
    assert reason in r.json()["error"]["message"]
    # Nothing archived, nothing left in tmp/, the originals whole in the spool.
    assert archived_files(ctx) == [] and list(ctx.store.tmp.iterdir()) == []
    with ctx.db.read() as db:
        assert db.scalar(select(func.count()).select_from(Session)) == 0
    [waiting] = staged(ctx)
    assert waiting.status == Status.ERROR
    [problem] = [p for p in waiting.problem_records if p["kind"] == "deid"]
    assert reason in problem["text"] and ".dcm" in problem["text"]
    [told] = [e for e in events if isinstance(e, SessionNeedsAttention)]
    assert told.staged_id == waiting.id and reason in told.reason
    shown = client.get(f"{API}/prearchive/{waiting.id}", auth=actors["owner"]).json()
    assert shown["status"] == "ERROR" and any(reason in p for p in shown["problems"])
    spooled = sorted((ctx.store.data_dir / "prearchive" / str(waiting.id)).rglob("*.dcm"))
    assert sorted(sha256(p.read_bytes()) for p in spooled) == sorted(
        sha256(p.read_bytes()) for p in files
    )

    # The script fixed (a new version): archiving again from the prearchive works.
    label = deid_script.save(ctx, "PILOT")
    operations.archive(ctx, SYSTEM, waiting.id)
    after_archive(client.app)
    assert staged(ctx) == []
    originals = [p.read_bytes() for p in files]
    assert_deidentified(ctx, "PILOT", originals, subject="s01", label=label)


def test_an_instance_that_cannot_be_read_keeps_the_session_waiting(
    ctx: Context, make_project: Callable[..., str], users: Any, events: list[Any]
) -> None:
    """The profile meets a staged file that is no longer DICOM (damaged on disk after it
    was received): the session waits, the file named; nothing is archived."""
    project = make_project("private", upload_destination="archive")
    deid_script.save(ctx, project, PROFILE)
    study = Study(StudyDescription=f"xnat://{project}/s/e")
    parts = [to_bytes(instance(study, n)) for n in (1, 2)]
    run(ctx, actor(ctx, "member"), multipart(parts), project=project)
    with ctx.db.read() as db:
        spool_path = db.scalar(select(Instance.spool_path).order_by(Instance.id.desc()))
    damaged = ctx.store.data_dir / str(spool_path)
    damaged.write_bytes(b"\0" * damaged.stat().st_size)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    assert worker.run_once(ctx, clock=lambda: later) == 1
    [waiting] = staged(ctx)
    assert waiting.status == Status.ERROR
    [problem] = waiting.problems
    assert damaged.name in problem and "not a DICOM file" in problem
    assert [type(e) for e in events] == [SessionNeedsAttention]
    assert archived_files(ctx) == [] and list(ctx.store.tmp.iterdir()) == []


def test_a_failure_by_the_builder_is_told_once(
    ctx: Context, make_project: Callable[..., str], users: Any, events: list[Any]
) -> None:
    project = make_project("private", upload_destination="archive")
    deid_script.save(ctx, project, deid_script.label_script(refuse="T1w MPRAGE"))
    study = Study(StudyDescription=f"xnat://{project}/s/e")
    run(ctx, actor(ctx, "member"), multipart([to_bytes(instance(study))]), project=project)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    assert worker.run_once(ctx, clock=lambda: later) == 1
    [waiting] = staged(ctx)
    assert waiting.status == Status.ERROR
    assert [type(e) for e in events] == [SessionNeedsAttention]
    with pytest.raises(DeidFailed, match="may not be archived"):
        archiver.archive(ctx, SYSTEM, waiting.id)
    [again] = staged(ctx)
    assert [p["kind"] for p in again.problem_records].count("deid") == 1


def test_a_clash_found_once_de_identified_is_a_conflict(
    ctx: Context, make_project: Callable[..., str], users: Any
) -> None:
    """Another study sent under the labels of an archived session: the UIDs compared
    are the de-identified ones, and the session waits with the conflict."""
    project = make_project("private", upload_destination="archive")
    deid_script.save(ctx, project)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    for _ in range(2):  # two studies, one label
        study = Study(StudyDescription=f"xnat://{project}/s/e")
        run(ctx, actor(ctx, "member"), multipart([to_bytes(instance(study))]), project=project)
        worker.run_once(ctx, clock=lambda: later)  # noqa: B023
    [waiting] = staged(ctx)
    assert waiting.status == Status.CONFLICT
    assert "Invalid modification of session UID" in " ".join(waiting.problems)
    assert waiting.StudyInstanceUID == study.StudyInstanceUID  # the staged rows untouched
    with ctx.db.read() as db:
        spools = db.scalars(select(Instance.spool_path).where(Instance.staged_id == waiting.id))
        assert all(str(p).startswith("prearchive/") for p in spools)
    assert list(ctx.store.tmp.iterdir()) == []


# -- kill -9 -----------------------------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from scandepot.access.actors import SYSTEM
    from scandepot.context import Context
    from scandepot.deid import engine
    from scandepot.prearchive import archiver
    from scandepot.settings import Settings
    from tests.prearchive import deid_script

    data, url, staged, where, n = sys.argv[1:6]
    deid_script.install()
    ctx = Context.from_settings(Settings(data_dir=Path(data), database_url=url))
    calls = {"count": 0}

    def dying(real):
        def call(*args, **kwargs):
            if calls["count"] == int(n):
                os.kill(os.getpid(), signal.SIGKILL)
            calls["count"] += 1
            return real(*args, **kwargs)
        return call

    if where == "deid":  # instances being de-identified
        engine.deidentify_file = dying(engine.deidentify_file)
    elif where == "link":  # de-identified copies being linked into the archive
        os.link = dying(os.link)
    else:  # the catalog committed, the spool and the copies not yet removed
        ctx.store.remove_tree = dying(ctx.store.remove_tree)
    archiver.archive(ctx, SYSTEM, int(staged))
    sys.exit(3)  # the kill point was never reached
    """
)


@pytest.fixture
def staged_study(
    ctx: Context, make_project: Callable[..., str], users: Any
) -> Iterator[tuple[int, list[bytes], str]]:
    ctx.settings.prearchive_quiet_s = 3600
    project = make_project("private", label="PILOT", upload_destination="archive")
    label = deid_script.save(ctx, project)
    study = Study(StudyDescription="xnat://PILOT/sub-01/ses-01")
    parts = [to_bytes(instance(study, n)) for n in range(1, 7)]
    run(ctx, actor(ctx, "member"), multipart(parts), project=project)
    [waiting] = staged(ctx)
    yield waiting.id, parts, label


def kill_9(ctx: Context, staged_id: int, where: str, n: int) -> None:
    assert ctx.settings.database_url is not None
    child = command.run_code(
        CHILD,
        [str(ctx.store.data_dir), ctx.settings.database_url, str(staged_id), where, str(n)],
    )
    assert child.returncode == -signal.SIGKILL, child.stderr


@pytest.mark.interop
@pytest.mark.parametrize(("where", "n"), [("deid", 0), ("deid", 4), ("link", 0), ("link", 5)])
def test_kill_9_while_archiving_leaves_the_session_whole(
    ctx: Context, staged_study: tuple[int, list[bytes], str], where: str, n: int
) -> None:
    staged_id, parts, label = staged_study
    kill_9(ctx, staged_id, where, n)
    worker.recover(ctx)  # what a restart does first
    assert check(ctx).ok
    with ctx.db.read() as db:
        assert db.scalar(select(func.count()).select_from(Session)) == 0
    assert [p for p in archived_files(ctx) if p.suffix == ".dcm"] == []
    [waiting] = staged(ctx)
    spooled = (ctx.store.data_dir / "prearchive" / str(staged_id)).rglob("*.dcm")
    assert sorted(sha256(p.read_bytes()) for p in spooled) == sorted(sha256(p) for p in parts)
    # The copies the killed process made are temporary files: removed by the store's clean.
    ctx.store.clean(older_than_s=0)
    archiver.archive(ctx, SYSTEM, staged_id)
    assert journal.pending(ctx) == []
    assert_deidentified(ctx, "PILOT", parts, subject="sub-01", label=label)


@pytest.mark.interop
def test_kill_9_after_the_commit(ctx: Context, staged_study: tuple[int, list[bytes], str]) -> None:
    """The catalog committed: the archive holds the copies; the restart removes the
    spool (the originals) and the store's clean the temporary names."""
    staged_id, parts, label = staged_study
    kill_9(ctx, staged_id, "commit", 0)
    worker.recover(ctx)
    assert not (ctx.store.data_dir / "prearchive" / str(staged_id)).exists()
    ctx.store.clean(older_than_s=0)
    assert_deidentified(ctx, "PILOT", parts, subject="sub-01", label=label)


# -- a transfer into the prearchive --------------------------------------------------------


def test_a_transfer_into_the_prearchive_is_archived_through_the_script(
    ctx: Context,
    client: TestClient,
    actors: dict[str, Any],
    make_project: Callable[..., str],
    users: dict[str, Any],
    tmp_path: Path,
) -> None:
    """A session copied from another project lands in the destination's prearchive (its
    spool files are links to the source's archived files): archived there, it goes through
    the destination's script, and the source's files are left as they were."""
    projects_ = two_projects(
        ctx, client, actors, make_project, tmp_path, upload_destination="prearchive"
    )
    study = projects_.session("S1", "E1", (1, 2))
    label = deid_script.save(ctx, projects_.dest, PROFILE)
    held = {p: p.read_bytes() for p in (ctx.store.archive / projects_.source).rglob("*.dcm")}
    copy = TransferRequest(
        kind=TransferKind.COPY,
        source=projects_.source,
        destination=projects_.dest,
        sessions=["E1"],
    )
    service.start(ctx, actor_for(users["owner"]), copy)
    assert run_transfers(ctx) == [JobStatus.SUCCEEDED]
    [waiting] = staged(ctx)
    operations.archive(ctx, SYSTEM, waiting.id)
    assert {p: p.read_bytes() for p in held} == held  # the source untouched
    copies = sorted((ctx.store.archive / projects_.dest).rglob("*.dcm"))
    assert len(copies) == len(held)
    assert not {sha256(p.read_bytes()) for p in copies} & {sha256(b) for b in held.values()}
    key = keys(ctx, projects_.dest)
    for path in copies:
        ds = dcmread(path)
        assert ds.StudyInstanceUID == key.uid(study.StudyInstanceUID)
        assert ds.PatientIdentityRemoved == "YES" and ds.PatientName != "S1^Test"
    with ctx.db.read() as db:
        made = db.scalar(select(Session).join(Project).where(Project.label == projects_.dest))
        assert made is not None and made.deid == label
        assert made.StudyInstanceUID == key.uid(study.StudyInstanceUID)
    report = check(ctx)
    assert report.ok, report


def test_a_copy_never_skips_the_archive_script(
    ctx: Context,
    client: TestClient,
    actors: dict[str, Any],
    make_project: Callable[..., str],
    users: dict[str, Any],
    tmp_path: Path,
) -> None:
    """A project that de-identifies as it archives takes copies only through its
    prearchive, even one that sends uploads straight to its archive: a copy linked into
    its archive would put the originals there."""
    projects_ = two_projects(ctx, client, actors, make_project, tmp_path)
    projects_.session("S1", "E1", (1,))
    deid_script.save(ctx, projects_.dest, PROFILE)
    owner = actor_for(users["owner"])
    asked = {
        "kind": TransferKind.COPY,
        "source": projects_.source,
        "destination": projects_.dest,
        "sessions": ["E1"],
    }
    plan = service.check(ctx, owner, TransferRequest(**asked))
    assert plan.ok and plan.landing == "prearchive"
    assert any("de-identifies what is archived into it" in w for w in plan.warnings)
    forced = service.check(ctx, owner, TransferRequest(**asked, landing="archive"))
    assert [p.code for p in forced.problems] == ["landing"]
    assert "its archive script runs" in forced.problems[0].message
    service.start(ctx, owner, TransferRequest(**asked))
    assert run_transfers(ctx) == [JobStatus.SUCCEEDED]
    assert len(staged(ctx)) == 1
    assert not list((ctx.store.archive / projects_.dest).rglob("*.dcm"))
