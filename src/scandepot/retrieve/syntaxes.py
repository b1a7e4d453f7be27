"""Transfer syntaxes: what can be sent of a stored instance, and transcoding with pydicom.

An instance is sent as stored unless the caller asks for another transfer syntax. Then
it is decoded with pydicom's pixel data decoders (the ones installed: Pillow's JPEG and
JPEG 2000, pydicom's own RLE) and written in the syntax asked for: a native one (Implicit
or Explicit VR Little Endian, Deflated Explicit VR Little Endian) or one of pydicom's
encoders (RLE Lossless). A lossy stored image is never re-encoded into a lossless
compressed syntax; decoded to native it may be (its pixels as the lossy codec left them).
"""

from __future__ import annotations

import io
from pathlib import Path

import pydicom
from pydicom import uid
from pydicom.pixels.decoders.base import get_decoder
from pydicom.pixels.encoders.base import get_encoder

from scandepot.retrieve.lenient import lenient

ANY = "*"  # transfer-syntax=*: the server chooses; here, as stored
NATIVE = frozenset(
    {uid.ImplicitVRLittleEndian, uid.ExplicitVRLittleEndian, uid.DeflatedExplicitVRLittleEndian}
)
# The media type of a frame (or of encapsulated pixel data) in each compressed syntax
# (PS3.18 Table 8.7.3-2 and 8.7.4-1).
FRAME_MEDIA_TYPES: dict[str, str] = {
    uid.JPEGBaseline8Bit: "image/jpeg",
    uid.JPEGExtended12Bit: "image/jpeg",
    uid.JPEGLossless: "image/jpeg",
    uid.JPEGLosslessSV1: "image/jpeg",
    uid.JPEGLSLossless: "image/jls",
    uid.JPEGLSNearLossless: "image/jls",
    uid.JPEG2000Lossless: "image/jp2",
    uid.JPEG2000: "image/jp2",
    uid.HTJ2KLossless: "image/jphc",
    uid.HTJ2KLosslessRPCL: "image/jphc",
    uid.HTJ2K: "image/jphc",
    uid.RLELossless: "image/dicom-rle",
    uid.MPEG2MPML: "video/mpeg",
    uid.MPEG2MPHL: "video/mpeg",
    uid.MPEG4HP41: "video/mp4",
    uid.MPEG4HP41BD: "video/mp4",
}
# Lossy compressed syntaxes: never re-encoded into a lossless compressed one.
LOSSY = frozenset(
    {
        uid.JPEGBaseline8Bit,
        uid.JPEGExtended12Bit,
        uid.JPEGLSNearLossless,
        uid.JPEG2000,
        uid.HTJ2K,
        uid.MPEG2MPML,
        uid.MPEG2MPHL,
        uid.MPEG4HP41,
        uid.MPEG4HP41BD,
    }
)
OCTET_STREAM = "application/octet-stream"
UNCOMPRESSED = uid.ExplicitVRLittleEndian  # what application/octet-stream frames are


class CannotTranscode(Exception):
    """The instance cannot be written in the transfer syntax asked for."""


def is_native(syntax: str) -> bool:
    return syntax in NATIVE or syntax == uid.ExplicitVRBigEndian


def decodable(syntax: str) -> bool:
    """Whether the pixel data of ``syntax`` can be decoded here."""
    if is_native(syntax):
        return True
    try:
        return bool(get_decoder(syntax).is_available)
    except (NotImplementedError, ValueError):
        return False


def _encodable(syntax: str) -> bool:
    try:
        return bool(get_encoder(syntax).is_available)
    except (NotImplementedError, ValueError):
        return False


def can_send(stored: str, wanted: str) -> bool:
    """Whether an instance stored in ``stored`` can be sent in ``wanted``."""
    if wanted in (ANY, stored):
        return True
    if wanted in NATIVE:
        return decodable(stored)
    return stored not in LOSSY and decodable(stored) and _encodable(wanted)


@lenient()
def transcode(path: Path, wanted: str) -> bytes:
    """The instance at ``path`` written in ``wanted``; :class:`CannotTranscode` when its
    pixel data cannot be decoded or encoded so."""
    ds = pydicom.dcmread(path)
    try:
        if "PixelData" in ds and ds.file_meta.TransferSyntaxUID.is_compressed:
            ds.decompress()
        if wanted not in NATIVE and "PixelData" in ds:
            ds.compress(wanted)
        ds.file_meta.TransferSyntaxUID = uid.UID(wanted)
        out = io.BytesIO()
        ds.save_as(out, enforce_file_format=True)
    except Exception as exc:  # noqa: BLE001 - codecs fail in many ways; the caller says which
        raise CannotTranscode(f"{path.name}: {exc}") from None
    return out.getvalue()
