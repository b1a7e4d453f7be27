"""The fast reader of Part 10 files agrees with pydicom's on every file pydicom ships."""

from __future__ import annotations

from pathlib import Path

import pytest
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
