"""The DICOM receiver against dcmtk's echoscu and storescu."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from pydicom import dcmread
from sqlalchemy import func, select

from scandepot.catalog.prearchive import UNASSIGNED, Instance, StagedSession, Status
from scandepot.context import Context
from scandepot.dicom.synthetic import Series, Study, mr_instance
from scandepot.dimse import Receiver
from tests.helpers import write_study

Send = Callable[..., subprocess.CompletedProcess[str]]

pytestmark = pytest.mark.interop


def staged(ctx: Context) -> list[StagedSession]:
    with ctx.db.read() as db:
        return list(db.scalars(select(StagedSession).order_by(StagedSession.id)))


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


@pytest.mark.in_process("sets the receiver's allowed calling titles")
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
