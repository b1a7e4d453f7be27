"""The tar writer: its length is known before it is made (for Content-Length) and must be
exact for any name, size and time, including those that need pax extended headers; the
headers it packs itself are the ones tarfile packs, and tar(1) reads them."""

from __future__ import annotations

import datetime as dt
import io
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from scandepot.export.archives import Format, Member, _tar_header, stream, tar_size

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


@pytest.mark.parametrize("name", list(NAMES))
@pytest.mark.parametrize("moment", list(TIMES))
@pytest.mark.parametrize("size", [0, 1, 130_000, 8**11 - 1, 8**11])
def test_headers_are_the_ones_tarfile_packs(name: str, moment: str, size: int) -> None:
    member = Member(NAMES[name], size, TIMES[moment], "/unused")
    info = tarfile.TarInfo(member.name)
    info.size, info.mtime, info.mode = size, int(member.modified.timestamp()), 0o644
    assert _tar_header(member) == info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


@pytest.mark.interop
def test_tar_lists_what_was_written(tmp_path: Path) -> None:
    items = members(tmp_path, NAMES["plain"], TIMES["now"], [0, 7, 130_000])
    archive = tmp_path / "a.tar"
    archive.write_bytes(b"".join(stream(Format.TAR, items, time.time_ns())))
    listing = subprocess.run(
        ["tar", "--numeric-owner", "--utc", "-tvf", str(archive)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert len(listing) == len(items)
    for line, item in zip(listing, items, strict=True):
        mode, owner, size, day, clock, name = line.split(maxsplit=5)
        assert (mode, owner, int(size), name) == ("-rw-r--r--", "0/0", item.size, item.name)
        assert f"{day} {clock}" == "2024-03-01 12:00"
