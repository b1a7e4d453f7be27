"""A tar's length is known before it is made, for Content-Length: it must be exact for any
name, size and time, including those that need pax extended headers."""

from __future__ import annotations

import datetime as dt
import io
import tarfile
import time
from pathlib import Path

import pytest

from scandepot.export.archives import Format, Member, stream, tar_size

UTC = dt.UTC
NAMES = {
    "plain": "S1/E1/scans/1-T1w/resources/DICOM/files/000001.dcm",
    "exactly 100": "d/" + "a" * 98,
    "101 characters": "d/" + "a" * 99,
    "very long": "/".join(["folder"] * 60) + "/file.nii.gz",
    "not ascii": "Sujet-\u00e9t\u00e9/E1/fichier-\u00e9.dcm",
    "not ascii, 100 bytes": "d/" + "\u00e9" * 49,
}
TIMES = {
    "now": dt.datetime(2024, 3, 1, 12, 0, 0, tzinfo=UTC),
    "before 1970": dt.datetime(1960, 1, 1, tzinfo=UTC),
    "epoch": dt.datetime(1970, 1, 1, tzinfo=UTC),
    "far future": dt.datetime(9999, 1, 1, tzinfo=UTC),
}


def members(tmp_path: Path, name: str, modified: dt.datetime, sizes: list[int]) -> list[Member]:
    found = [Member("manifest.json", 3, modified, data=b"{}\n")]
    for i, size in enumerate(sizes):
        path = tmp_path / f"{i}.bin"
        path.write_bytes(b"\x01" * size)
        found.append(Member(f"{name}.{i}", size, modified, str(path)))
    return found


@pytest.mark.parametrize("name", list(NAMES))
@pytest.mark.parametrize("moment", list(TIMES))
def test_tar_size_is_the_length_of_the_tar(tmp_path: Path, name: str, moment: str) -> None:
    items = members(tmp_path, NAMES[name], TIMES[moment], [0, 1, 511, 512, 513, 10_240, 70_000])
    body = b"".join(stream(Format.TAR, items, time.time_ns()))
    assert tar_size(items) == len(body)
    with tarfile.open(fileobj=io.BytesIO(body)) as t:
        assert [m.name for m in t.getmembers()] == [m.name for m in items]


@pytest.mark.parametrize("count", [0, 1, 19, 20, 21])
def test_the_end_pads_to_a_whole_record(tmp_path: Path, count: int) -> None:
    items = members(tmp_path, "f", TIMES["now"], [100] * count)
    body = b"".join(stream(Format.TAR, items, time.time_ns()))
    assert len(body) % tarfile.RECORDSIZE == 0
    assert tar_size(items) == len(body)
