"""The zip writer: sizes and CRC-32 in every local header (general purpose bit 3 clear, no
data descriptors), the same values as the central directory, ZIP64 where needed; its
length is known before it is made; a reader that only walks local headers (as Java's
ZipInputStream does) reads it, and so do zipfile, Info-ZIP's unzip and Java itself."""

from __future__ import annotations

import datetime as dt
import io
import os
import shutil
import struct
import subprocess
import time
import zipfile
import zlib
from pathlib import Path

import pytest

from scandepot.export.archives import Format, Member, archive_size, stream
from scandepot.export.zip_format import LIMITS, Limits

UTC = dt.UTC
NOW = dt.datetime(2024, 3, 1, 12, 0, 7, tzinfo=UTC)
NAMES = {
    "plain": "S1/E1/scans/1-T1w/resources/DICOM/files/000001.dcm",
    "very long": "/".join(["folder"] * 60) + "/file.nii.gz",
    "not ascii": "Sujet-\u00e9t\u00e9/E1/fichier-\u00e9.dcm",
}
SIZES = [0, 1, 5000, 130_000]


def members(tmp_path: Path, name: str, sizes: list[int], *, catalogued: bool) -> list[Member]:
    found = [Member("manifest.json", 3, NOW, data=b"{}\n")]
    for i, size in enumerate(sizes):
        body = os.urandom(size)
        path = tmp_path / f"{i}.bin"
        path.write_bytes(body)
        crc = zlib.crc32(body) if catalogued else None
        found.append(Member(f"{name}.{i}", size, NOW, str(path), crc32=crc))
    return found


def make(items: list[Member], limits: Limits = LIMITS) -> bytes:
    return b"".join(stream(Format.ZIP, items, time.time_ns(), zip_limits=limits))


def walk_local_headers(body: bytes) -> list[tuple[str, int, int, bytes]]:
    """A streaming reader after APPNOTE 4.3.7: local header after local header from the
    start, never looking at the central directory; each entry's sizes must be in its
    header (bit 3 clear), a ZIP64 extra field giving them when the header has 0xFFFFFFFF.
    Returns (name, flags, CRC-32, bytes) per entry, the CRC checked against the bytes."""
    out = []
    at = 0
    while body[at : at + 4] == b"PK\x03\x04":
        (_, _, flags, method, _, _, crc, csize, usize, n, m) = struct.unpack_from(
            "<IHHHHHIIIHH", body, at
        )
        assert flags & 0x08 == 0, "bit 3: sizes in a data descriptor"
        assert method == 0
        name = body[at + 30 : at + 30 + n].decode("utf-8" if flags & 0x800 else "ascii")
        extra = body[at + 30 + n : at + 30 + n + m]
        if usize == 0xFFFFFFFF:
            tag, length, usize, csize = struct.unpack_from("<HHQQ", extra)
            assert (tag, length) == (1, 16)
        assert usize == csize
        start = at + 30 + n + m
        data = body[start : start + usize]
        assert len(data) == usize and zlib.crc32(data) == crc
        out.append((name, flags, crc, data))
        at = start + usize
    assert body[at : at + 4] == b"PK\x01\x02", "the central directory follows the last entry"
    return out


def check_agrees(body: bytes) -> list[tuple[str, int, int, bytes]]:
    """What the local headers say is what the central directory says, and zipfile reads
    every entry with its CRC checked."""
    local = walk_local_headers(body)
    with zipfile.ZipFile(io.BytesIO(body)) as z:
        assert z.testzip() is None
        infos = z.infolist()
        assert [(i.filename, i.flag_bits, i.CRC, i.file_size) for i in infos] == [
            (name, flags, crc, len(data)) for name, flags, crc, data in local
        ]
        assert [z.read(i) for i in infos] == [data for *_, data in local]
    return local


@pytest.mark.parametrize("name", list(NAMES))
@pytest.mark.parametrize("catalogued", [True, False], ids=["crc catalogued", "crc computed"])
def test_local_headers_hold_sizes_and_crc(tmp_path: Path, name: str, catalogued: bool) -> None:
    items = members(tmp_path, NAMES[name], SIZES, catalogued=catalogued)
    body = make(items)
    assert archive_size(Format.ZIP, items) == len(body)
    local = check_agrees(body)
    assert [n for n, *_ in local] == [m.name for m in items]
    assert [data for *_, data in local[1:]] == [Path(str(m.path)).read_bytes() for m in items[1:]]


@pytest.mark.interop
def test_zip64_everywhere(tmp_path: Path) -> None:
    """With the ZIP64 threshold lowered, entries carry ZIP64 sizes in their local and
    central headers, offsets in the central one, and the end has the ZIP64 record and
    locator, as an archive over 2 GiB does; the length is still known up front."""
    small = Limits(size=100)
    items = members(tmp_path, NAMES["plain"], [50, 200, 5000, 0], catalogued=True)
    body = make(items, small)
    assert archive_size(Format.ZIP, items, zip_limits=small) == len(body)
    assert body.rfind(b"PK\x06\x06") > 0 and body.rfind(b"PK\x06\x07") > 0
    check_agrees(body)
    archive = tmp_path / "a.zip"
    archive.write_bytes(body)
    subprocess.run(["unzip", "-tq", str(archive)], check=True, capture_output=True)


def test_more_entries_than_the_end_record_counts(tmp_path: Path) -> None:
    few = Limits(entries=3)
    items = members(tmp_path, "f", [10] * 5, catalogued=True)
    body = make(items, few)
    assert archive_size(Format.ZIP, items, zip_limits=few) == len(body)
    assert body.rfind(b"PK\x06\x06") > 0
    assert len(check_agrees(body)) == 6


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (NOW, (2024, 3, 1, 12, 0, 6)),
        (dt.datetime(1960, 1, 1, tzinfo=UTC), (1980, 1, 1, 0, 0, 0)),
        (dt.datetime(9999, 1, 1, tzinfo=UTC), (2107, 12, 31, 23, 59, 58)),
    ],
)
def test_times_outside_the_dos_range_are_clamped(
    tmp_path: Path, moment: dt.datetime, expected: tuple[int, ...]
) -> None:
    body = make([Member("a.txt", 1, moment, data=b"a")])
    with zipfile.ZipFile(io.BytesIO(body)) as z:
        assert z.infolist()[0].date_time == expected


@pytest.mark.interop
def test_unzip_tests_it(tmp_path: Path) -> None:
    if shutil.which("unzip") is None:
        pytest.fail("unzip is needed (Debian package unzip)")
    items = members(tmp_path, NAMES["not ascii"], SIZES, catalogued=False)
    archive = tmp_path / "a.zip"
    archive.write_bytes(make(items))
    out = subprocess.run(["unzip", "-t", str(archive)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "No errors detected" in out.stdout


@pytest.mark.interop
def test_java_zip_input_stream_reads_it(tmp_path: Path) -> None:
    """`jar x` reading standard input goes through java.util.zip.ZipInputStream, which
    refuses a stored entry with a data descriptor ("only DEFLATED entries can have EXT
    descriptor"), as the previous writer made."""
    jar = shutil.which("jar")
    if jar is None:
        pytest.fail("jar is needed (Debian package default-jdk-headless)")
    items = members(tmp_path, "d/file", SIZES, catalogued=True)
    out = tmp_path / "out"
    out.mkdir()
    subprocess.run([jar, "x"], input=make(items), cwd=out, check=True, timeout=120)
    for member in items[1:]:
        assert (out / member.name).read_bytes() == Path(str(member.path)).read_bytes()
