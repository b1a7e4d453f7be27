"""UIDs from outside name spool files: every way in checks them against the UID grammar
(PS3.5 §9.1) before anything is written, and the store replaces no file it did not
mean to replace."""

from __future__ import annotations

import io
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydicom import config
from pydicom.dataset import Dataset
from sqlalchemy import func, select

from scandepot.archive.check import check
from scandepot.catalog.prearchive import Instance
from scandepot.context import Context
from scandepot.dicom import uids
from scandepot.dicom.headers import NotDicom, read_file_header, read_header
from scandepot.dicom.synthetic import Series, Study, mr_instance, to_bytes
from scandepot.ingest.receive import Source, receive
from tests.ingest.test_upload import post

GOOD = ["0", "1.2", "1.2.840.10008.5.1.4.1.1.4", "1." + "9" * 62, "2.25.0"]
BAD = [
    "",
    "../../../../../../../../../tmp",
    "../../../ESCAPED1",
    "acc-rel-proof",
    "1.2/3",
    "1.02",  # a component with a leading zero
    "1..2",
    ".1.2",
    "1.2.",
    "1.2\x003",
    "1.2 3",
    "1." + "9" * 63,  # 65 characters
    "١.٢",  # Arabic-Indic digits: digits to str.isdigit, not to the grammar
    "1.2\n",
]


@pytest.mark.parametrize("value", GOOD)
def test_the_grammar_takes_uids(value: str) -> None:
    assert uids.check(value, "SOPInstanceUID") == value
    assert uids.check(value + "\x00", "SOPInstanceUID") == value  # PS3.5 §6.2 padding


@pytest.mark.parametrize("value", BAD)
def test_the_grammar_refuses_what_is_no_uid(value: str) -> None:
    if value.rstrip("\x00 ").lstrip(" ") in GOOD:
        pytest.fail("a bad value in the table is a good one")
    with pytest.raises(uids.InvalidUID):
        uids.check(value, "SOPInstanceUID")


@pytest.fixture(autouse=True)
def lenient_pydicom(monkeypatch: pytest.MonkeyPatch) -> None:
    """pydicom warns of invalid UIDs as it sets them: these tests make them on purpose."""
    monkeypatch.setattr(config.settings, "writing_validation_mode", config.IGNORE)
    monkeypatch.setattr(config.settings, "reading_validation_mode", config.IGNORE)


def hostile(**uids_: str) -> Dataset:
    ds = mr_instance(Study(), Series(1, "T1w"), 1, rows=8, columns=8)
    for keyword, value in uids_.items():
        setattr(ds, keyword, value)
    return ds


@pytest.mark.parametrize(
    "uid_values",
    [
        {"SeriesInstanceUID": "../../../../../../../../../tmp", "SOPInstanceUID": "acc-rel-proof"},
        {"SOPInstanceUID": "../../../ESCAPED1"},
        {"StudyInstanceUID": "1.2.3/../../x"},
        {"SOPClassUID": "1.2.840.10008.5.1.4.1.1.4\x00../x"},
        {"SOPInstanceUID": "1.2.3\x00.4"},
    ],
)
def test_the_header_reader_refuses_them(tmp_path: Path, uid_values: dict[str, str]) -> None:
    path = tmp_path / "x.dcm"
    hostile(**uid_values).save_as(path, enforce_file_format=True)
    for read in (read_file_header, read_header):
        with pytest.raises(NotDicom, match="not a UID|longer than|no "):
            read(path)


def test_a_transfer_syntax_that_is_no_uid_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.dcm"
    hostile().save_as(path, enforce_file_format=True)
    raw = path.read_bytes()
    syntax = b"1.2.840.10008.1.2.1\x00"
    assert raw.count(syntax) == 1
    path.write_bytes(raw.replace(syntax, b"1.2.840.10008.1/../"))  # the same length
    for read in (read_file_header, read_header):
        # pydicom warns of the unknown syntax, as it does in the server, where warnings
        # are no errors.
        with warnings.catch_warnings(), pytest.raises(NotDicom, match="TransferSyntaxUID"):
            warnings.simplefilter("ignore", UserWarning)
            read(path)


def outside(tmp_path: Path, data_dir: Path) -> list[Path]:
    """Files under ``tmp_path`` but outside the data folder (the test's own files aside)."""
    return [
        p
        for p in tmp_path.rglob("*")
        if p.is_file() and data_dir not in p.parents and "in" not in p.relative_to(tmp_path).parts
    ]


@pytest.mark.interop
def test_c_store_of_a_traversing_uid_gets_c000_and_writes_nothing(
    ctx: Context, tmp_path: Path, storescu: Callable[..., Any], make_project: Callable[..., str]
) -> None:
    make_project("private", label="PILOT")
    folder = tmp_path / "in"
    folder.mkdir()
    sent, names = [], []
    for n, values in enumerate(
        [
            {"SeriesInstanceUID": "../../../../../../../../../../../../tmp"},
            {"SOPInstanceUID": "../../../ESCAPED1"},
            {"SOPInstanceUID": "1.2.3\x004"},
        ]
    ):
        ds = hostile(**values)
        ds.StudyDescription = "xnat://PILOT/sub-01/ses-01"
        names.append(f"{ds.SOPInstanceUID}.dcm")
        path = folder / f"{n}.dcm"
        ds.save_as(path, enforce_file_format=True)
        sent.append(path)
    good = mr_instance(Study(StudyDescription="xnat://PILOT/sub-01/ses-01"), Series(), 1)
    good.save_as(folder / "good.dcm", enforce_file_format=True)
    done = storescu(*sent, folder / "good.dcm", extra=("--no-halt",))
    statuses = [line for line in done.stderr.splitlines() if "Received Store Response" in line]
    assert len(statuses) == 4, done.stderr
    assert all("CannotUnderstand" in s for s in statuses[:3]), statuses  # 0xC000
    assert "Success" in statuses[3], statuses
    assert not any((Path("/tmp") / name).exists() for name in names)
    assert not (ctx.store.data_dir / "ESCAPED1.dcm").exists()
    assert outside(tmp_path, ctx.store.data_dir) == []
    with ctx.db.read() as db:
        paths = db.scalars(select(Instance.spool_path)).all()
    assert len(paths) == 1 and ".." not in str(paths[0])


def test_import_of_a_traversing_uid_names_the_member_and_keeps_nothing(
    ctx: Context, client: TestClient, actors: dict[str, Any], make_project: Callable[..., str]
) -> None:
    ctx.settings.prearchive_quiet_s = 3600
    project = make_project("private", label="PILOT")
    good = to_bytes(mr_instance(Study(), Series(1), 1, rows=8, columns=8))
    bad = to_bytes(hostile(SOPInstanceUID="../../../ESCAPED1"))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("good.dcm", good)
        archive.writestr("bad.dcm", bad)
    r = post(client, project, out.getvalue(), actors["member"])
    assert r.status_code == 422, r.text
    details = r.json()["error"]["details"]
    assert [d["name"] for d in details] == ["bad.dcm"]
    assert "not a UID" in details[0]["reason"]
    assert not (ctx.store.data_dir / "ESCAPED1.dcm").exists()
    with ctx.db.read() as db:
        assert db.scalar(select(func.count()).select_from(Instance)) == 0


def test_a_catalogued_spool_file_is_never_replaced(
    ctx: Context, make_project: Callable[..., str]
) -> None:
    """A file at a spool name the catalog holds is refused, not replaced; an orphan left
    by a killed writer (not catalogued) is replaced."""
    ctx.settings.prearchive_quiet_s = 3600
    make_project("private", label="PILOT")
    study, series = Study(StudyDescription="xnat://PILOT/sub-01/ses-01"), Series(1)
    first = mr_instance(study, series, 1, rows=8, columns=8)
    staged = ctx.store.stage()
    staged.write(to_bytes(first))
    got = receive(ctx, staged, Source("upload"))
    staged.discard()
    assert got.staged_id is not None
    with ctx.db.read() as db:
        (spool_path,) = db.scalars(select(Instance.spool_path)).all()
    kept = (ctx.store.data_dir / str(spool_path)).read_bytes()

    # The catalogued instance row goes out of the way of the held-copy look-up, as a
    # crafted second staged session could make it: the name must still be refused.
    with ctx.db.write() as db:
        row = db.scalars(select(Instance)).one()
        row.SOPInstanceUID = "1.2.3.4.5"
    staged = ctx.store.stage()
    other = mr_instance(study, series, 1, rows=8, columns=8, seed=99)
    other.SOPInstanceUID = first.SOPInstanceUID
    staged.write(to_bytes(other))
    with pytest.raises(Exception, match="would replace a staged file"):
        receive(ctx, staged, Source("upload"))
    staged.discard()
    assert (ctx.store.data_dir / str(spool_path)).read_bytes() == kept
    assert check(ctx).ok
