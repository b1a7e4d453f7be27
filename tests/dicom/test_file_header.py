"""The fast reader of Part 10 files agrees with pydicom's on every file pydicom ships."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from pydicom.config import disable_value_validation
from pydicom.data import get_testdata_file

from scandepot.dicom.headers import NotDicom, read_file_header, read_header
from scandepot.dicom.synthetic import Series, Study, mr_instance


def outcome(reader: object, path: Path) -> object:
    try:
        return reader(path)  # type: ignore[operator]
    except NotDicom:
        return "refused"


def test_same_answer_as_pydicom(tmp_path: Path) -> None:
    paths = sorted(Path(str(get_testdata_file("CT_small.dcm"))).parent.rglob("*.dcm"))
    ds = mr_instance(Study(PatientComments="Project: P Subject: S"), Series(), 1, rows=8, columns=8)
    ds.save_as(tmp_path / "mr.dcm", enforce_file_format=True)
    paths.append(tmp_path / "mr.dcm")
    (tmp_path / "cut.dcm").write_bytes((tmp_path / "mr.dcm").read_bytes()[:300])
    paths.append(tmp_path / "cut.dcm")
    assert len(paths) > 50
    for path in paths:
        assert outcome(read_file_header, path) == outcome(read_header, path), path


@pytest.mark.parametrize("body", [b"", b"hello", b"\0" * 128 + b"DICM" + b"\xff" * 40])
def test_garbage_is_refused(tmp_path: Path, body: bytes) -> None:
    path = tmp_path / "x.dcm"
    path.write_bytes(body)
    with pytest.raises(NotDicom):
        read_file_header(path)


@pytest.mark.parametrize(
    ("study_time", "zone", "expected"),
    [
        ("133834.250000", "-0500", (dt.time(13, 38, 34, 250000), "-0500")),
        ("133834.25", "+0100", (dt.time(13, 38, 34, 250000), "+0100")),
        ("1338", "+1400", (dt.time(13, 38), "+1400")),
        ("235960", "0500", (dt.time(23, 59, 59), None)),  # a leap second; no sign: no zone
        ("13:38:34.5", "+2500", (dt.time(13, 38, 34, 500000), None)),  # ACR-NEMA; no zone
        ("1338xx", "-05:00", (None, None)),
    ],
)
def test_times_keep_their_fraction_and_the_zone_its_form(
    tmp_path: Path, study_time: str, zone: str, expected: tuple[object, object]
) -> None:
    """Both readers (the lean scan and pydicom) keep a time's fraction of a second, and a
    Timezone Offset From UTC only in its form (&ZZZZ, PS3.3 C.12.1.1.8)."""
    with disable_value_validation():  # some of these are what a sender should not send
        ds = mr_instance(Study(StudyTime=study_time), Series(), 1, rows=8, columns=8)
        ds.TimezoneOffsetFromUTC = zone
        ds.PerformedProcedureStepStartDate = "20240301"
        ds.PerformedProcedureStepStartTime = study_time
        ds.save_as(tmp_path / "t.dcm", enforce_file_format=True)
    for reader in (read_file_header, read_header):
        header = reader(tmp_path / "t.dcm")
        assert (header.StudyTime, header.TimezoneOffsetFromUTC) == expected
        assert header.PerformedProcedureStepStartTime == expected[0]
        assert header.PerformedProcedureStepStartDate == dt.date(2024, 3, 1)
