"""Hostile headers at every way in: the header reader, filing (what C-STORE, uploads and
STOW end in), a real C-STORE association and an import. Whatever arrives, nothing crashes,
nothing is written outside the data folder, and `scandepot check` stays clean.

The cases come from a seeded generator, so a failure names a case that can be made again.
"""

from __future__ import annotations

import io
import random
import struct
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydicom import config
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE, _config
from pynetdicom.sop_class import MRImageStorage
from sqlalchemy import select

from scandepot.archive.check import check
from scandepot.catalog.prearchive import Instance
from scandepot.context import Context
from scandepot.dicom import uids
from scandepot.dicom.headers import Header, NotDicom, read_file_header
from scandepot.dimse import Receiver
from scandepot.ingest.receive import Source, receive
from tests.ingest.test_upload import post

PARSER_CASES = 10_000
FILED_CASES = 600
STORED_CASES = 200
IMPORTED_CASES = 200

# The attributes the reader catalogues, with their VRs, in tag order, and a good value.
ELEMENTS: list[tuple[int, bytes, bytes]] = [
    (0x00080005, b"CS", b"ISO_IR 100"),
    (0x00080016, b"UI", MRImageStorage.encode() + b"\x00"),
    (0x00080018, b"UI", b"1.2.3.4.5.6.7.1"),
    (0x00080020, b"DA", b"20240301"),
    (0x00080030, b"TM", b"093000"),
    (0x00080050, b"SH", b"ACC001"),
    (0x00080060, b"CS", b"MR"),
    (0x00081030, b"LO", b"xnat://PILOT/sub-01/ses-01"),
    (0x0008103E, b"LO", b"T1w"),
    (0x00100010, b"PN", b"Doe^Jane"),
    (0x00100020, b"LO", b"PAT001"),
    (0x00180015, b"CS", b"BRAIN "),
    (0x00180087, b"DS", b"3 "),
    (0x0020000D, b"UI", b"1.2.3.4.5.6.7.2"),
    (0x0020000E, b"UI", b"1.2.3.4.5.6.7.3"),
    (0x00200011, b"IS", b"1 "),
    (0x00200013, b"IS", b"1 "),
    (0x7FE00010, b"OW", b"\x00\x01" * 8),
]
LONG_VRS = {b"OB", b"OW", b"SQ", b"UN", b"UT", b"UC", b"UR"}
PIECES = [
    b"..",
    b"/",
    b"\\",
    b"\x00",
    b" ",
    b"~",
    b"%2e%2e",
    b"C:",
    b"\n",
    b"xnat://",
    b"\xc3\xa9",
    b"\xff\xfe",
    b"*",
    b"1",
    b"0",
    b".",
    b"01",
    b"99999999999999999999",
    b"1e309",
    b"NaN",
]
UNDEFINED = 0xFFFFFFFF


def _hostile(rng: random.Random) -> bytes:
    kind = rng.randrange(6)
    if kind == 0:
        return b"".join(rng.choice(PIECES) for _ in range(rng.randrange(1, 12)))
    if kind == 1:
        return b"../" * rng.randrange(1, 20) + rng.choice([b"tmp", b"etc/passwd", b"x"])
    if kind == 2:
        return rng.choice(b"0123456789.").to_bytes(1, "little") * rng.randrange(60, 300)
    if kind == 3:
        return rng.randbytes(rng.randrange(1, 40))
    if kind == 4:
        return b".".join(str(rng.randrange(0, 10**6)).encode() for _ in range(rng.randrange(1, 12)))
    return b""


def _element(tag: int, vr: bytes, value: bytes, explicit: bool, length: int | None = None) -> bytes:
    size = len(value) if length is None else length
    head = struct.pack("<HH", tag >> 16, tag & 0xFFFF)
    if not explicit:
        return head + struct.pack("<I", size) + value
    if vr in LONG_VRS:
        return head + vr + b"\x00\x00" + struct.pack("<I", size) + value
    return head + vr + struct.pack("<H", size & 0xFFFF) + value


def _sequence(depth: int, explicit: bool) -> bytes:
    """Items nested ``depth`` deep, each of undefined length, as a value of undefined length."""
    inner = _element(0x00080100, b"SH", b"X ", explicit)
    if depth:
        inner += _element(0x00081140, b"SQ", _sequence(depth - 1, explicit), explicit, UNDEFINED)
    item = struct.pack("<HHI", 0xFFFE, 0xE000, UNDEFINED) + inner
    item += struct.pack("<HHI", 0xFFFE, 0xE00D, 0)
    return item + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)


def hostile_file(rng: random.Random, n: int) -> bytes:
    """A Part 10 file whose data set has some of its elements made hostile: values (path
    characters, NUL, over-long, undecodable bytes), VRs (a sequence or UN where a value
    should be), lengths (odd, or past the end), deep nesting, or a cut."""
    explicit = rng.random() < 0.7
    syntax = b"1.2.840.10008.1.2.1\x00" if explicit else b"1.2.840.10008.1.2\x00"
    body = b""
    if rng.random() < 0.2:  # deep nesting before the attributes that are read
        body += _element(
            0x00081115, b"SQ", _sequence(rng.randrange(1, 60), explicit), explicit, UNDEFINED
        )
    spoiled = set(rng.sample(range(len(ELEMENTS)), rng.randrange(1, 5)))
    for index, (tag, vr, value) in enumerate(ELEMENTS):
        if tag == 0x00080018 and index not in spoiled:
            value = f"1.2.3.4.5.6.7.1.{n}".encode()
        if index not in spoiled:
            body += _element(tag, vr, value, explicit)
            continue
        choice = rng.randrange(7)
        if choice == 0:
            body += _element(tag, b"SQ", _sequence(2, explicit), explicit, UNDEFINED)
        elif choice == 1:
            continue  # left out
        elif choice == 2:
            body += _element(tag, b"UN", _hostile(rng), explicit)
        elif choice == 3:
            bad = _hostile(rng)
            body += _element(tag, vr, bad, explicit, len(bad) + rng.randrange(1, 5000))
        else:
            body += _element(tag, vr, _hostile(rng), explicit)
    if rng.random() < 0.1:
        body = body[: rng.randrange(0, len(body))]
    meta = (
        _element(0x00020001, b"OB", b"\x00\x01", True)
        + _element(0x00020002, b"UI", MRImageStorage.encode() + b"\x00", True)
        + _element(0x00020003, b"UI", f"1.2.3.4.5.6.7.1.{n}".encode().ljust(32, b"\x00"), True)
        + _element(0x00020010, b"UI", syntax, True)
    )
    group = _element(0x00020000, b"UL", struct.pack("<I", len(meta)), True)
    return b"\x00" * 128 + b"DICM" + group + meta + body


@pytest.fixture(autouse=True)
def lenient_pydicom(monkeypatch: pytest.MonkeyPatch) -> None:
    """pydicom warns of every invalid value it is given; here they are made on purpose,
    and the server (where warnings are no errors) is what is under test."""
    monkeypatch.setattr(config.settings, "writing_validation_mode", config.IGNORE)
    monkeypatch.setattr(config.settings, "reading_validation_mode", config.IGNORE)


@pytest.fixture
def quiet_warnings() -> Iterator[None]:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def cases(seed: int, count: int) -> Iterator[bytes]:
    rng = random.Random(seed)
    for n in range(count):
        yield hostile_file(rng, n)


def assert_filed_header_is_safe(header: Header) -> None:
    for keyword in ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID"):
        assert uids.is_valid(getattr(header, keyword)), (keyword, getattr(header, keyword))


@pytest.mark.parametrize("chunk", range(10))
def test_the_header_reader_over_hostile_values(
    tmp_path: Path, quiet_warnings: None, chunk: int
) -> None:
    """10,000 cases in ten chunks (so that the suite's workers share them)."""
    path = tmp_path / "x.dcm"
    refused = read = 0
    for raw in cases(1000 + chunk, PARSER_CASES // 10):
        path.write_bytes(raw)
        try:
            header = read_file_header(path)
        except NotDicom:
            refused += 1
            continue
        read += 1
        assert_filed_header_is_safe(header)
    assert refused > 0 and read > 0  # both kinds were made


def in_data(ctx: Context, tmp_path: Path) -> None:
    """Nothing outside the data folder under the test's folder, nothing left in tmp/,
    every spool name inside the spool, and the archive agrees with the catalog."""
    sent = tmp_path / "in"  # the test's own files
    stray = [
        p
        for p in tmp_path.rglob("*")
        if p.is_file() and ctx.store.data_dir not in p.parents and sent not in p.parents
    ]
    assert stray == []
    assert [p for p in ctx.store.tmp.iterdir() if p.is_file()] == []
    spool = (ctx.store.data_dir / "prearchive").resolve()
    with ctx.db.read() as db:
        for name in db.scalars(select(Instance.spool_path).where(Instance.spool_path.is_not(None))):
            assert spool in (ctx.store.data_dir / name).resolve().parents, name
    report = check(ctx)
    assert report.ok, report


def test_filing_over_hostile_values(
    ctx: Context, make_project: Callable[..., str], tmp_path: Path, quiet_warnings: None
) -> None:
    ctx.settings.prearchive_quiet_s = 3600
    make_project("private", label="PILOT")
    filed = 0
    for raw in cases(15, FILED_CASES):
        staged = ctx.store.stage()
        try:
            staged.write(raw)
            try:
                receive(ctx, staged, Source("upload"))
                filed += 1
            except NotDicom:
                pass
        finally:
            staged.discard()
    assert filed > 0
    in_data(ctx, tmp_path)


def test_c_store_over_hostile_values(
    ctx: Context,
    receiver: Receiver,
    make_project: Callable[..., str],
    tmp_path: Path,
    quiet_warnings: None,
) -> None:
    ctx.settings.prearchive_quiet_s = 3600
    make_project("private", label="PILOT")
    ae = AE(ae_title="FUZZER")
    ae.add_requested_context(MRImageStorage, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
    statuses: dict[int, int] = {}
    folder = tmp_path / "in"
    folder.mkdir()
    _config.STORE_SEND_CHUNKED_DATASET = True  # the file's bytes as they are, not re-encoded
    assoc = ae.associate("127.0.0.1", receiver.port, ae_title="SCANDEPOT")
    try:
        for n, raw in enumerate(cases(16, STORED_CASES)):
            path = folder / f"{n}.dcm"
            path.write_bytes(raw)
            if not assoc.is_established:
                assoc = ae.associate("127.0.0.1", receiver.port, ae_title="SCANDEPOT")
            try:
                status = assoc.send_c_store(path)
            except Exception:  # noqa: BLE001 - pynetdicom refuses to send some files
                continue
            code = int(status.Status) if "Status" in status else -1
            statuses[code] = statuses.get(code, 0) + 1
    finally:
        _config.STORE_SEND_CHUNKED_DATASET = False
        if assoc.is_established:
            assoc.release()
    # Stored, or refused for good (0xC000); never "out of resources" (0xA700), which a
    # sender retries for ever.
    assert set(statuses) <= {0x0000, 0xC000}, statuses
    assert statuses.get(0x0000) and statuses.get(0xC000), statuses
    in_data(ctx, tmp_path)


def test_import_over_hostile_values(
    ctx: Context,
    client: TestClient,
    actors: dict[str, Any],
    make_project: Callable[..., str],
    tmp_path: Path,
    quiet_warnings: None,
) -> None:
    ctx.settings.prearchive_quiet_s = 3600
    project = make_project("private", label="PILOT")
    body = io.BytesIO()
    with zipfile.ZipFile(body, "w") as archive:
        for n, raw in enumerate(cases(17, IMPORTED_CASES)):
            archive.writestr(f"{n}.dcm", raw)
    r = post(client, project, body.getvalue(), actors["member"], ignore_unparsable="true")
    assert r.status_code in (200, 201), r.text
    in_data(ctx, tmp_path)
