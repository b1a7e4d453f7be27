"""Pixel data: which instances carry burned-in annotation, and CTP DicomPixelAnonymizer
scripts that blank rectangles of the image where a signature matches (docs/deid-ctp.md).

A pixel script is text: each signature is a condition in braces (pixel_match), followed by
the rectangles ``(x, y, width, height)`` to blank in images it matches; text elsewhere is
comment. The first signature an instance matches is used. Negative x or y count from the
right or bottom edge. As CTP does for uncompressed images, a rectangle covers columns x to
x + width and rows y to y + height, both ends included, clipped to the image.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels.encoders.base import get_encoder
from pydicom.uid import UID, ExplicitVRLittleEndian

from scandepot.deid import pixel_match
from scandepot.deid.model import Refused, ScriptError

# Modalities whose images often have text burned into the pixels (PS3.3 C.7.3.1.1.1).
BURNED_IN_MODALITIES = frozenset({"US", "IVUS", "SC", "OT", "XC", "ES", "GM", "DOC"})
# Secondary capture, ultrasound, visible light photography and encapsulated documents.
BURNED_IN_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.7": "Secondary Capture Image",
    "1.2.840.10008.5.1.4.1.1.7.1": "Multi-frame Single Bit Secondary Capture Image",
    "1.2.840.10008.5.1.4.1.1.7.2": "Multi-frame Grayscale Byte Secondary Capture Image",
    "1.2.840.10008.5.1.4.1.1.7.3": "Multi-frame Grayscale Word Secondary Capture Image",
    "1.2.840.10008.5.1.4.1.1.7.4": "Multi-frame True Color Secondary Capture Image",
    "1.2.840.10008.5.1.4.1.1.6.1": "Ultrasound Image",
    "1.2.840.10008.5.1.4.1.1.6.2": "Enhanced US Volume",
    "1.2.840.10008.5.1.4.1.1.3.1": "Ultrasound Multi-frame Image",
    "1.2.840.10008.5.1.4.1.1.6": "Ultrasound Image (Retired)",
    "1.2.840.10008.5.1.4.1.1.3": "Ultrasound Multi-frame Image (Retired)",
    "1.2.840.10008.5.1.4.1.1.77.1.1": "VL Endoscopic Image",
    "1.2.840.10008.5.1.4.1.1.77.1.4": "VL Photographic Image",
    "1.2.840.10008.5.1.4.1.1.104.1": "Encapsulated PDF",
}
# Syntaxes re-encoded after blanking when an encoder is installed; any other compressed
# syntax (lossy ones above all) is written uncompressed, Explicit VR Little Endian.
LOSSLESS = frozenset(
    {
        "1.2.840.10008.1.2.5",  # RLE Lossless: pydicom's own encoder
        "1.2.840.10008.1.2.4.80",  # JPEG-LS Lossless
        "1.2.840.10008.1.2.4.90",  # JPEG 2000 Lossless Only
        "1.2.840.10008.1.2.4.70",  # JPEG Lossless SV1
    }
)
REGION = re.compile(r"\(\s*(-?\d+)\s*,\s*(-?\d+)\s*,\s*(-?\d+)\s*,\s*(-?\d+)\s*\)")


def burned_in(ds: Dataset) -> str | None:
    """Why ``ds`` must not leave unless a pixel rule cleaned it, or None.

    (0028,0301) Burned In Annotation "YES" refuses it; "NO" lets it pass whatever its
    modality. Without the attribute, the modalities and SOP classes where annotation is
    common (ultrasound, secondary and screen captures, photographs, documents) are
    refused: conservative, since the attribute is often absent from exactly those.
    """
    flag = str(ds.get("BurnedInAnnotation", "") or "").strip().upper()
    if flag == "YES":
        return "Burned In Annotation (0028,0301) is YES"
    if flag == "NO":
        return None
    modality = str(ds.get("Modality", "") or "").strip().upper()
    if modality in BURNED_IN_MODALITIES:
        return f"modality {modality} often has burned-in annotation; (0028,0301) does not say NO"
    sop_class = str(ds.get("SOPClassUID", "") or "").strip()
    if sop_class in BURNED_IN_SOP_CLASSES:
        name = BURNED_IN_SOP_CLASSES[sop_class]
        return f"{name} often has burned-in annotation; (0028,0301) does not say NO"
    return None


@dataclass(frozen=True, slots=True)
class Signature:
    condition: pixel_match.Expr
    regions: tuple[tuple[int, int, int, int], ...]
    line: int


@dataclass(frozen=True, slots=True)
class PixelScript:
    signatures: tuple[Signature, ...]

    def matching(self, ds: Dataset) -> Signature | None:
        for signature in self.signatures:
            if pixel_match.evaluate(signature.condition, ds):
                return signature
        return None

    def apply(self, ds: Dataset) -> None:
        """Blank the regions of the first matching signature in every frame."""
        signature = self.matching(ds)
        if signature is not None and signature.regions and "PixelData" in ds:
            blank(ds, signature.regions)


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def load_pixel_script(text: str) -> PixelScript:
    """The signatures of a DicomPixelAnonymizer script; :class:`ScriptError` naming the
    line of a malformed condition or rectangle, or of an unclosed brace."""
    signatures: list[Signature] = []
    starts = list(re.finditer(r"\{[^}]*\}", text))
    stray = re.search(r"[{}]", re.sub(r"\{[^}]*\}", lambda m: " " * len(m.group()), text))
    if stray:
        raise ScriptError(
            "unbalanced braces", line=_line(text, stray.start()), source="pixel script"
        )
    for k, match in enumerate(starts):
        line = _line(text, match.start())
        if "{" in match.group()[1:]:
            raise ScriptError("unbalanced braces", line=line, source="pixel script")
        try:
            condition = pixel_match.parse(match.group()[1:-1])
        except pixel_match.MatchSyntaxError as exc:
            where = _line(text, match.start() + 1 + exc.offset)
            raise ScriptError(str(exc), line=where, source="pixel script") from exc
        end = starts[k + 1].start() if k + 1 < len(starts) else len(text)
        regions = _regions(text, match.end(), end)
        signatures.append(Signature(condition, regions, line))
    return PixelScript(tuple(signatures))


def _regions(text: str, start: int, end: int) -> tuple[tuple[int, int, int, int], ...]:
    regions: list[tuple[int, int, int, int]] = []
    for group in re.finditer(r"\([^)]*\)", text[start:end]):
        region = REGION.fullmatch(group.group())
        if not region:
            line = _line(text, start + group.start())
            raise ScriptError(
                f"bad rectangle {group.group()}: (x, y, width, height) in pixels",
                line=line,
                source="pixel script",
            )
        x, y, w, h = (int(v) for v in region.groups())
        regions.append((x, y, w, h))
    return tuple(regions)


def _where(ds: Dataset) -> str:
    name = getattr(ds, "filename", None)
    if isinstance(name, str) and name:
        return name
    return f"instance {ds.get('SOPInstanceUID', '?')}"


def blank(ds: Dataset, regions: tuple[tuple[int, int, int, int], ...]) -> None:
    """Decode the pixel data, set the regions of every frame to black (0; the maximum for
    MONOCHROME1; Y=0, Cb=Cr=128 for YBR), write it back: re-encoded where the syntax is
    lossless and an encoder is installed, uncompressed otherwise. Refused (naming the
    file and the syntax) when no installed codec can decode it."""
    syntax = UID(ds.file_meta.TransferSyntaxUID)
    if syntax.is_compressed:
        try:
            ds.decompress(as_rgb=False, generate_instance_uid=False)
        except (RuntimeError, NotImplementedError, ValueError) as exc:
            raise Refused(
                f"{_where(ds)}: pixel data in {syntax.name} ({syntax}) cannot be decoded "
                f"to blank it: no codec for it is installed ({str(exc).splitlines()[0]})"
            ) from exc
    ds.pixel_array_options(as_rgb=False)
    pixels = np.array(ds.pixel_array)
    photometric = str(ds.PhotometricInterpretation)
    if photometric == "YBR_FULL_422":  # decoded at full resolution
        photometric = "YBR_FULL"
    frames = pixels if int(ds.get("NumberOfFrames", 1) or 1) > 1 else pixels[np.newaxis]
    for frame in frames:
        for x, y, w, h in regions:
            _fill(frame, x, y, w, h, _black(ds, photometric))
    if not syntax.is_compressed and not syntax.is_little_endian:
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    out = frames if pixels.ndim == frames.ndim else frames[0]
    ds.set_pixel_data(out, photometric, int(ds.BitsStored), generate_instance_uid=False)
    if syntax.is_compressed and syntax in LOSSLESS and get_encoder(syntax).is_available:
        ds.compress(syntax, generate_instance_uid=False)


def _black(ds: Dataset, photometric: str) -> int | tuple[int, ...]:
    if photometric == "MONOCHROME1":
        bits = int(ds.BitsStored) - int(ds.PixelRepresentation)  # signed: one bit less
        return (1 << bits) - 1
    if photometric.startswith("YBR"):
        return (0, 128, 128)
    return 0


def _fill(frame: np.ndarray, x: int, y: int, w: int, h: int, value: int | tuple[int, ...]) -> None:
    rows, columns = frame.shape[0], frame.shape[1]
    x = max(0, x + columns) if x < 0 else x
    y = max(0, y + rows) if y < 0 else y
    w = min(w, columns - x)
    h = min(h, rows - y)
    if w < 0 or h < 0:
        return
    frame[y : y + h + 1, x : x + w + 1] = value
