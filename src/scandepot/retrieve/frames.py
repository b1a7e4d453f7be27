"""WADO-RS frames and bulk data (PS3.18 §10.4.1.1.3, §10.4.1.1.5).

A frame goes as stored (its compressed bitstream, with the media type of its transfer
syntax: ``image/jpeg``, ``image/jp2``, ``image/dicom-rle``...) when the caller accepts
that media type or ``transfer-syntax=*``; as ``application/octet-stream`` (native, little
endian; decoded here when stored compressed) when it asks for octet-stream, which is
dicomweb-client's and OHIF's default. Bulk data is the value of one binary element, named
by its tag path as the metadata's BulkDataURI names it; Pixel Data's is its frames.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.encaps import get_frame
from pydicom.tag import Tag

from scandepot.context import Context
from scandepot.errors import BadRequest, NotAcceptable, NotFound
from scandepot.query.scope import Scope
from scandepot.retrieve import accept, syntaxes
from scandepot.retrieve.instances import Located, locate
from scandepot.retrieve.lenient import lenient
from scandepot.retrieve.multipart import Multipart, of_bytes

MAX_FRAMES_ASKED = 10_000
_FRAME_LIST = re.compile(r" *[0-9]+ *(, *[0-9]+ *)*")  # PS3.18: 1#uint, spaces allowed
_PIXEL_DATA = 0x7FE00010


@dataclass(frozen=True, slots=True)
class Choice:
    """How frames are sent: as stored, or decoded to native octets."""

    media_type: str
    stored: bool


def parse_frame_list(text: str) -> list[int]:
    """Frame numbers from ``1,3,5``: 1 and up; :class:`BadRequest` naming ``frames``."""
    if not _FRAME_LIST.fullmatch(text):
        raise BadRequest(
            f"frames '{text[:64]}' is not a comma-separated list of frame numbers.",
            field="frames",
        )
    numbers = [int(n) for n in text.split(",")]
    if min(numbers) < 1:
        raise BadRequest("Frame numbers start at 1.", field="frames")
    if len(numbers) > MAX_FRAMES_ASKED:
        raise BadRequest(f"At most {MAX_FRAMES_ASKED} frames at a time.", field="frames")
    return numbers


def _covers(part: str | None, media_type: str) -> bool:
    """Whether a part type asked for (None: any) covers ``media_type``."""
    return part is None or accept.MediaRange(part, {}).matches(media_type)


def _choose(ranges: list[accept.MediaRange], stored: str) -> Choice:
    native = syntaxes.is_native(stored)
    own = syntaxes.OCTET_STREAM if native else syntaxes.FRAME_MEDIA_TYPES.get(str(stored))
    for media in ranges:
        if media.media_type in ("*/*", "multipart/*"):
            part = None
        elif media.media_type == "multipart/related":
            part = media.part_type
        else:
            part = media.media_type  # a part type given bare: taken as meant
        ts = media.transfer_syntax
        if own is not None and (
            ts in (syntaxes.ANY, stored) or (ts is None and _covers(part, own))
        ):
            return Choice(own, True)  # as stored: the server's choice, or what was asked
        if _covers(part, syntaxes.OCTET_STREAM) and ts in (None, syntaxes.UNCOMPRESSED):
            if native:
                return Choice(own or syntaxes.OCTET_STREAM, True)
            if syntaxes.decodable(stored):
                return Choice(syntaxes.OCTET_STREAM, False)
    raise NotAcceptable(
        f"The frames are stored in transfer syntax {stored}; they can be sent as "
        f"{own or 'nothing else'}"
        + (" or decoded as application/octet-stream." if syntaxes.decodable(stored) else "."),
        field="Accept",
    )


def _count(ds: Dataset) -> int:
    if "PixelData" not in ds:
        raise NotFound("The instance has no pixel data, so no frames.", field="frames")
    return int(ds.get("NumberOfFrames", 1) or 1)


def _native_frame(ds: Dataset, index: int, count: int) -> bytes:
    data: bytes = ds.PixelData
    bits = int(ds.get("BitsAllocated", 8) or 8)
    if bits % 8:  # bit-packed frames (1 bit) do not start on byte boundaries
        raise NotAcceptable("Frames of 1-bit pixel data are not sent.", field="frames")
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    size = int(ds.Rows) * int(ds.Columns) * samples * bits // 8
    if size * count > len(data):
        size = len(data) // count  # a value shorter than its attributes say
    return data[index * size : (index + 1) * size]


def frame_bytes(path: Path, ds: Dataset, numbers: list[int], choice: Choice) -> list[bytes]:
    """The frames' bytes, as :class:`Choice` says."""
    count = _count(ds)
    beyond = [n for n in numbers if n > count]
    if beyond:
        raise NotFound(
            f"The instance has {count} frame(s); there is no frame {beyond[0]}.", field="frames"
        )
    stored = ds.file_meta.TransferSyntaxUID
    if not stored.is_compressed:
        return [_native_frame(ds, n - 1, count) for n in numbers]
    if choice.stored:
        return [get_frame(ds.PixelData, n - 1, number_of_frames=count) for n in numbers]
    from pydicom.pixels.utils import pixel_array

    return [pixel_array(path, index=n - 1, as_rgb=False).tobytes() for n in numbers]


def _frame_body(found: Located, ds: Dataset, numbers: list[int], choice: Choice) -> Multipart:
    frames = frame_bytes(found.path, ds, numbers, choice)
    syntax = found.transfer_syntax if choice.stored else syntaxes.UNCOMPRESSED
    kind = f"{choice.media_type}; transfer-syntax={syntax}"
    return of_bytes([(kind, frame) for frame in frames], choice.media_type)


@lenient()
def retrieve_frames(
    ctx: Context,
    scope: Scope,
    accept_header: str | None,
    study: str,
    series: str,
    instance: str,
    frame_list: str,
) -> Multipart:
    numbers = parse_frame_list(frame_list)
    (found,) = locate(ctx, scope, study, series, instance)
    choice = _choose(accept.parse(accept_header), found.transfer_syntax)
    return _frame_body(found, pydicom.dcmread(found.path), numbers, choice)


def _element(ds: Dataset, path: str) -> tuple[int, object]:
    """The tag and value at ``path`` (``7FE00010``, ``00540016/0/00181072``...)."""
    steps = path.strip("/").split("/")
    if len(steps) % 2 != 1 or not all(re.fullmatch(r"[0-9A-Fa-f]{8}", s) for s in steps[::2]):
        raise BadRequest(f"'{path[:128]}' is not a bulk data path of this server.", field="tag")
    here = ds
    try:
        for sequence, item in zip(steps[:-1:2], steps[1::2], strict=True):
            here = here[Tag(int(sequence, 16))].value[int(item)]
        last = int(steps[-1], 16)
        return last, here[Tag(last)].value
    except (KeyError, IndexError, TypeError, ValueError):
        raise NotFound(f"The instance has no element at '{path[:128]}'.", field="tag") from None


def _takes_octets(media: accept.MediaRange) -> bool:
    if media.media_type == "multipart/related":
        return _covers(media.part_type, syntaxes.OCTET_STREAM)
    return media.matches(syntaxes.OCTET_STREAM) or media.media_type == "multipart/*"


@lenient()
def retrieve_bulkdata(
    ctx: Context,
    scope: Scope,
    accept_header: str | None,
    study: str,
    series: str,
    instance: str,
    path: str,
) -> Multipart:
    (found,) = locate(ctx, scope, study, series, instance)
    ranges = accept.parse(accept_header)
    ds = pydicom.dcmread(found.path)
    tag, value = _element(ds, path)
    if tag == _PIXEL_DATA and "/" not in path.strip("/"):
        choice = _choose(ranges, found.transfer_syntax)
        numbers = list(range(1, _count(ds) + 1))
        return _frame_body(found, ds, numbers, choice)
    if not isinstance(value, bytes):
        raise NotFound(f"The element at '{path[:128]}' is no bulk data.", field="tag")
    if not any(_takes_octets(media) for media in ranges):
        raise NotAcceptable("Bulk data is sent as application/octet-stream.", field="Accept")
    return of_bytes([(syntaxes.OCTET_STREAM, value)], syntaxes.OCTET_STREAM)
