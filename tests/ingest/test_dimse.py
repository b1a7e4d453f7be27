"""The DICOM receiver against dcmtk's echoscu and storescu, and pynetdicom as a sender."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from pydicom import dcmread
from pydicom.uid import ExplicitVRLittleEndian
from pynetdicom import AE
from pynetdicom.sop_class import MRImageStorage
from sqlalchemy import func, select

from scandepot.catalog.prearchive import UNASSIGNED, Instance, PrearchiveSession, Status
from scandepot.context import Context
from scandepot.dicom.synthetic import Series, Study, mr_instance
from scandepot.ingest.dimse import Receiver
from tests.helpers import write_study

Send = Callable[..., subprocess.CompletedProcess[str]]


def staged(ctx: Context) -> list[PrearchiveSession]:
    with ctx.db.read() as db:
        return list(db.scalars(select(PrearchiveSession).order_by(PrearchiveSession.id)))


def instances(ctx: Context) -> int:
    with ctx.db.read() as db:
        return db.scalar(select(func.count(Instance.id))) or 0


def test_echo(receiver: Receiver) -> None:
    done = subprocess.run(
        ["echoscu", "-v", "-aec", "SCANDEPOT", "127.0.0.1", str(receiver.port)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert "Received Echo Response (Success)" in done.stderr


def test_store_keeps_the_bytes_and_catalogues_each_instance(
    ctx: Context, storescu: Send, tmp_path: Path
) -> None:
    study = Study()
    files = write_study(tmp_path / "in", study, [Series(1, "T1w"), Series(2, "rest BOLD")])
    done = storescu(*files)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("Received Store Response (Success)") == len(files)
    [session] = staged(ctx)
    assert session.project_key == UNASSIGNED and session.status == Status.RECEIVING
    assert session.StudyInstanceUID == study.StudyInstanceUID
    assert session.subject == "Doe_Jane" and session.session == "PAT001"
    with ctx.db.read() as db:
        rows = db.scalars(select(Instance)).all()
    assert len(rows) == len(files)
    sent = {dcmread(f).SOPInstanceUID: f for f in files}
    for row in rows:
        stored = ctx.store.data_dir / str(row.spool_path)
        original = dcmread(sent[row.SOPInstanceUID])
        again = dcmread(stored)
        # The data set is byte for byte what was sent; the File Meta names the sender.
        assert again.PixelData == original.PixelData
        assert again.file_meta.SourceApplicationEntityTitle == "SCANNER1"
        assert row.TransferSyntaxUID == str(again.file_meta.TransferSyntaxUID)
        assert row.SeriesDescription in ("T1w", "rest BOLD")


def test_duplicates_add_nothing(ctx: Context, storescu: Send, tmp_path: Path) -> None:
    files = write_study(tmp_path / "in", Study(), [Series(1, "T1w")])
    assert storescu(*files).returncode == 0
    assert storescu(*files).returncode == 0
    assert instances(ctx) == len(files)
    assert len(staged(ctx)) == 1


def test_same_uid_other_bytes_is_kept_and_flagged(
    ctx: Context, storescu: Send, tmp_path: Path
) -> None:
    study, series = Study(), Series(1, "T1w")
    first = mr_instance(study, series, 1, rows=32, columns=32, seed=1)
    second = mr_instance(
        study, series, 1, rows=32, columns=32, seed=2, SOPInstanceUID=first.SOPInstanceUID
    )
    (tmp_path / "a.dcm").write_bytes(b"")
    first.save_as(tmp_path / "a.dcm", enforce_file_format=True)
    second.save_as(tmp_path / "b.dcm", enforce_file_format=True)
    assert storescu(tmp_path / "a.dcm").returncode == 0
    assert storescu(tmp_path / "b.dcm").returncode == 0
    assert instances(ctx) == 2
    [session] = staged(ctx)
    assert any("arrived again with other bytes" in p for p in session.problems)


def test_calling_and_called_titles(
    ctx: Context, receiver: Receiver, storescu: Send, tmp_path: Path
) -> None:
    files = write_study(tmp_path / "in", Study(), [Series(1, "T1w")], per_series=1)
    refused = storescu(*files, called="NOT_US")
    assert refused.returncode != 0
    assert "Called AE Title Not Recognized" in refused.stderr
    receiver.settings.allowed_calling = frozenset({"SCANNER1"})
    assert storescu(*files, calling="INTRUDER").returncode != 0
    assert storescu(*files, calling="SCANNER1").returncode == 0
    assert instances(ctx) == 1


def test_bad_instances_fail_and_the_association_goes_on(ctx: Context, receiver: Receiver) -> None:
    study, series = Study(), Series(1, "T1w")
    good = mr_instance(study, series, 1, rows=16, columns=16)
    no_study = mr_instance(study, series, 2, rows=16, columns=16)
    del no_study.StudyInstanceUID
    ae = AE(ae_title="PYNETDICOM")
    ae.add_requested_context(MRImageStorage)
    assoc = ae.associate("127.0.0.1", receiver.port, ae_title="SCANDEPOT")
    assert assoc.is_established
    failed = assoc.send_c_store(no_study)
    ok = assoc.send_c_store(good)
    assoc.release()
    assert failed.Status == 0xC000
    assert ok.Status == 0x0000
    assert instances(ctx) == 1
    assert list(ctx.store.tmp.iterdir()) == []


def test_garbage_in_a_data_set_is_refused(ctx: Context, receiver: Receiver, tmp_path: Path) -> None:
    junk = tmp_path / "junk.dcm"
    ds = mr_instance(Study(), Series(), 1, rows=16, columns=16)
    ds.save_as(junk, enforce_file_format=True)
    raw = junk.read_bytes()
    junk.write_bytes(raw[:400])  # cut in the middle of the header
    ae = AE(ae_title="PYNETDICOM")
    ae.add_requested_context(MRImageStorage, ExplicitVRLittleEndian)
    assoc = ae.associate("127.0.0.1", receiver.port, ae_title="SCANDEPOT")
    from pynetdicom import _config

    _config.STORE_SEND_CHUNKED_DATASET = True
    try:
        status = assoc.send_c_store(junk)
    finally:
        _config.STORE_SEND_CHUNKED_DATASET = False
        assoc.release()
    assert status.Status in (0xC000, 0xA900) or status == ""  # refused, never stored
    assert instances(ctx) == 0
    assert list(ctx.store.tmp.iterdir()) == []
