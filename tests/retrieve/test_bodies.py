"""The multipart bodies of a retrieval: exact lengths, stored bytes or transcoded ones, and
a file changed on disk never sent as if whole."""

from __future__ import annotations

import io
import os
from collections.abc import Callable

import pydicom
import pytest
from pydicom.uid import ExplicitVRLittleEndian, RLELossless

from scandepot.access.actors import SYSTEM
from scandepot.context import Context
from scandepot.dicom.synthetic import Series, Study, mr_instance
from scandepot.errors import NotAcceptable
from scandepot.export.archives import SourceChanged
from scandepot.query.scope import Scope
from scandepot.retrieve import wado
from scandepot.retrieve.instances import locate
from tests.retrieve.archived import archive, pydicom_file

DICOM = 'multipart/related; type="application/dicom"'


def parts(body: bytes, boundary: str) -> list[tuple[str, bytes]]:
    """Each part's Content-Type and bytes (RFC 2046 framing, checked on the way)."""
    delimiter = f"--{boundary}".encode()
    end = b"\r\n" + delimiter + b"--\r\n"
    assert body.startswith(delimiter + b"\r\n") and body.endswith(end)
    found = []
    for chunk in body[len(delimiter) + 2 : -len(end)].split(b"\r\n" + delimiter + b"\r\n"):
        head, _, data = chunk.partition(b"\r\n\r\n")
        headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n"))
        assert int(headers["Content-Length"]) == len(data)
        found.append((headers["Content-Type"], data))
    return found


@pytest.fixture
def study(ctx: Context, make_project: Callable[..., str]) -> Study:
    make_project("private", "B")
    made = Study()
    series = Series()
    archive(ctx, "B", [mr_instance(made, series, n, rows=32, columns=32) for n in (1, 2)])
    return made


def test_stored_bytes_with_their_length(ctx: Context, study: Study) -> None:
    body = wado.retrieve(ctx, Scope(SYSTEM), DICOM, study.StudyInstanceUID)
    data = b"".join(body.chunks())
    assert body.length == len(data)
    found = parts(data, body.boundary)
    located = locate(ctx, Scope(SYSTEM), study.StudyInstanceUID)
    assert found == [
        (f"application/dicom; transfer-syntax={ExplicitVRLittleEndian}", one.path.read_bytes())
        for one in located
    ]


def test_transcoded_as_asked(ctx: Context, study: Study, make_project: Callable[..., str]) -> None:
    wanted = f"{DICOM}; transfer-syntax={RLELossless}"
    body = wado.retrieve(ctx, Scope(SYSTEM), wanted, study.StudyInstanceUID)
    assert body.length is None  # made on the way: chunked
    for kind, data in parts(b"".join(body.chunks()), body.boundary):
        assert kind == f"application/dicom; transfer-syntax={RLELossless}"
        ds = pydicom.dcmread(io.BytesIO(data))
        assert ds.file_meta.TransferSyntaxUID == RLELossless and ds.pixel_array.shape == (32, 32)
    archive(ctx, make_project("private", "J"), [pydicom_file("SC_rgb_jpeg_dcmtk.dcm")])
    jpeg = pydicom.dcmread(pydicom_file("SC_rgb_jpeg_dcmtk.dcm"), stop_before_pixels=True)
    with pytest.raises(NotAcceptable):  # lossy JPEG is never made lossless RLE
        wado.retrieve(ctx, Scope(SYSTEM), wanted, jpeg.StudyInstanceUID)


def test_a_file_changed_on_disk_ends_the_body_early(ctx: Context, study: Study) -> None:
    body = wado.retrieve(ctx, Scope(SYSTEM), None, study.StudyInstanceUID)
    second = locate(ctx, Scope(SYSTEM), study.StudyInstanceUID)[1].path
    with open(second, "ab") as fh:  # grows after the request began
        fh.write(b"\0\0")
        os.fsync(fh.fileno())
    sent: list[bytes] = []
    with pytest.raises(SourceChanged):
        sent.extend(body.chunks())
    assert not b"".join(sent).endswith(f"--{body.boundary}--\r\n".encode())
