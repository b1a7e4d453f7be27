"""Rendered images and thumbnails (PS3.18 §10.4.1.1.4, §10.4.1.1.6, §9 WADO-URI).

One frame is decoded (never the others: :func:`scandepot.archive.thumbnails.decode_frame`)
and made into an 8-bit picture: colour as it is; grey through the Modality LUT (Rescale
Slope and Intercept), then the window asked for (``window=center,width,function``), else
the first window of the instance's headers (Window Center and Width, VOI LUT Function),
else its VOI LUT Sequence, else the percentile window of the scan pictures; MONOCHROME1
inverted. ``viewport=width,height`` scales it to fit, aspect kept; ``quality`` (1-100)
sets JPEG's.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pydicom
from numpy.typing import NDArray
from PIL import Image
from pydicom.dataset import Dataset

from scandepot.archive import thumbnails
from scandepot.context import Context
from scandepot.errors import BadRequest, NotAcceptable, NotFound, TooLarge
from scandepot.query.scope import Scope
from scandepot.retrieve import accept
from scandepot.retrieve.instances import Located, locate
from scandepot.retrieve.lenient import lenient

JPEG, PNG = "image/jpeg", "image/png"
THUMBNAIL_SIDE = 128  # a thumbnail's largest side, when no viewport is asked for
MAX_VIEWPORT = 4096
_FUNCTIONS = {"linear", "linear_exact", "sigmoid"}


@dataclass(frozen=True, slots=True)
class Window:
    center: float
    width: float
    function: str = "linear"


@dataclass(frozen=True, slots=True)
class Rendering:
    """What was asked for: the media type and the optional parameters."""

    media_type: str = JPEG
    quality: int = 90
    window: Window | None = None
    viewport: tuple[int, int] | None = None


@dataclass(frozen=True, slots=True)
class Picture:
    data: bytes
    media_type: str


def _numbers(text: str, field: str, count: int) -> list[str]:
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != count or not all(parts):
        raise BadRequest(
            f"{field} '{text[:64]}' needs {count} comma-separated values.", field=field
        )
    return parts


def parse_window(text: str) -> Window:
    center, width, function = _numbers(text, "window", 3)
    try:
        c, w = float(center), float(width)
    except ValueError:
        raise BadRequest("window's center and width must be numbers.", field="window") from None
    function = function.lower().replace("-", "_")
    if not (math.isfinite(c) and math.isfinite(w)) or w <= 0 or function not in _FUNCTIONS:
        raise BadRequest(
            "window is center,width,function: a width above 0 and a function of linear, "
            "linear-exact or sigmoid.",
            field="window",
        )
    return Window(c, w, function)


def parse_viewport(text: str) -> tuple[int, int]:
    parts = _numbers(text, "viewport", 2) if text.count(",") == 1 else None
    try:
        width, height = (int(p) for p in parts) if parts else (-1, -1)
    except ValueError:
        width = height = -1
    if not (0 < width <= MAX_VIEWPORT and 0 < height <= MAX_VIEWPORT):
        raise BadRequest(
            f"viewport is width,height in pixels, each 1 to {MAX_VIEWPORT} "
            "(a source rectangle is not supported).",
            field="viewport",
        )
    return width, height


def parse_quality(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 100:
        raise BadRequest("quality is a whole number from 1 to 100.", field="quality")
    return int(text)


def media_type(accept_header: str | None) -> str:
    """image/jpeg unless the caller takes only PNG; 406 for anything else."""
    for media in accept.parse(accept_header):
        for kind in (JPEG, PNG):
            if media.matches(kind):
                return kind
    raise NotAcceptable("Rendered images are sent as image/jpeg or image/png.", field="Accept")


def rendering(
    accept_header: str | None,
    window: str | None = None,
    quality: str | None = None,
    viewport: str | None = None,
) -> Rendering:
    return Rendering(
        media_type(accept_header),
        parse_quality(quality) if quality is not None else 90,
        parse_window(window) if window is not None else None,
        parse_viewport(viewport) if viewport is not None else None,
    )


def windowed(values: NDArray[np.float64], window: Window) -> NDArray[np.float64]:
    """PS3.3 C.11.2.1.2: the window's linear, linear exact or sigmoid function, to 0-255."""
    c, w = window.center, window.width
    if window.function == "sigmoid":
        return 255.0 / (1.0 + np.exp(-4.0 * (values - c) / w))
    if window.function == "linear_exact":
        return np.clip((values - c) / w + 0.5, 0.0, 1.0) * 255.0
    if w <= 1:  # linear needs a width of at least 1
        return np.where(values <= c - 0.5, 0.0, 255.0)
    return np.clip(((values - (c - 0.5)) / (w - 1)) + 0.5, 0.0, 1.0) * 255.0


def _header_window(ds: Any) -> Window | None:
    if "WindowCenter" not in ds or "WindowWidth" not in ds:
        return None
    center, width = ds.WindowCenter, ds.WindowWidth
    center = center[0] if isinstance(center, pydicom.multival.MultiValue) else center
    width = width[0] if isinstance(width, pydicom.multival.MultiValue) else width
    function = str(ds.get("VOILUTFunction", "LINEAR") or "LINEAR").lower()
    if float(width) <= 0 or function not in _FUNCTIONS:
        return None
    return Window(float(center), float(width), function)


def _grey(pixels: NDArray[Any], ds: Any, window: Window | None) -> Image.Image:
    from pydicom.pixels.processing import apply_modality_lut, apply_voi_lut

    values = np.asarray(apply_modality_lut(pixels, ds), dtype=np.float64)
    window = window or _header_window(ds)
    if window is None and "VOILUTSequence" in ds:
        values = np.asarray(apply_voi_lut(pixels, ds), dtype=np.float64)
    if window is None:
        return thumbnails.grey(
            values.astype(np.float32), str(ds.get("PhotometricInterpretation", ""))
        )
    scaled = windowed(values, window)
    if ds.get("PhotometricInterpretation") == "MONOCHROME1":
        scaled = 255.0 - scaled
    return Image.fromarray(np.asarray(scaled, dtype=np.uint8)).convert("L")


@lenient()
def picture(
    found: Located, frame: int | None, asked: Rendering, *, side: int | None = None
) -> bytes:
    """One frame (1 and up; None: the first) drawn as asked."""
    header = pydicom.dcmread(found.path, stop_before_pixels=True)
    if "Rows" not in header or "Columns" not in header:
        raise NotFound(f"Instance {found.sop_instance} holds no image to render.", field="instance")
    count = int(header.get("NumberOfFrames", 1) or 1)
    if frame is not None and not 1 <= frame <= count:
        raise NotFound(
            f"The instance has {count} frame(s); there is no frame {frame}.", field="frame"
        )
    samples = int(header.get("SamplesPerPixel", 1) or 1)
    if int(header.Rows) * int(header.Columns) * samples > thumbnails.MAX_FRAME_PIXELS:
        raise TooLarge("The frame is too large to render.", field="instance")
    index = (frame or 1) - 1 if count > 1 else None
    try:
        with open(found.path, "rb") as fh:
            pixels = thumbnails.decode_frame(fh, index=index)
    except Exception as exc:  # noqa: BLE001 - pydicom and its codecs fail in many ways
        raise NotAcceptable(f"The instance's pixel data cannot be decoded here: {exc}") from None
    if pixels.ndim == 3:
        image = Image.fromarray(np.ascontiguousarray(pixels, dtype=np.uint8)).convert("RGB")
    else:
        image = _grey(pixels, frame_attributes(header, (frame or 1) - 1), asked.window)
    return _encoded(image, asked, side)


_FOR_PIXELS = (
    "PhotometricInterpretation",
    "BitsStored",
    "PixelRepresentation",
    "RescaleSlope",
    "RescaleIntercept",
    "RescaleType",
    "ModalityLUTSequence",
    "WindowCenter",
    "WindowWidth",
    "VOILUTFunction",
    "VOILUTSequence",
)
_FRAME_GROUPS = ("PixelValueTransformationSequence", "FrameVOILUTSequence")


def frame_attributes(header: Dataset, index: int) -> Dataset:
    """What turns a frame's values into grey levels: the instance's attributes, and those
    of an enhanced instance's functional groups (shared, then the frame's own: Rescale in
    Pixel Value Transformation, Window in Frame VOI LUT), which hold them instead."""
    found = Dataset()
    for keyword in _FOR_PIXELS:
        if keyword in header:
            found[keyword] = header[keyword]
    shared = header.get("SharedFunctionalGroupsSequence") or []
    per_frame = header.get("PerFrameFunctionalGroupsSequence") or []
    groups = [*shared[:1], *per_frame[index : index + 1]]
    for group in groups:
        for name in _FRAME_GROUPS:
            if group.get(name):
                for elem in group[name][0]:
                    found[elem.tag] = elem
    return found


def _encoded(image: Image.Image, asked: Rendering, side: int | None) -> bytes:
    box = asked.viewport or ((side, side) if side else None)
    if box is not None:
        scale = min(box[0] / image.width, box[1] / image.height)
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.BILINEAR)
    out = io.BytesIO()
    if asked.media_type == PNG:
        image.save(out, format="PNG")
    else:
        image.save(out, format="JPEG", quality=asked.quality)
    return out.getvalue()


def rendered(
    ctx: Context,
    scope: Scope,
    asked: Rendering,
    study: str,
    series: str | None = None,
    instance: str | None = None,
    frame: int | None = None,
    *,
    thumbnail: bool = False,
) -> bytes:
    """A rendered instance (its ``frame``); at the series or study level one picture
    stands for them all: the middle instance of the (first) series."""
    found = locate(ctx, scope, study, series, instance)
    first_series = [one for one in found if one.series == found[0].series]
    chosen = first_series[len(first_series) // 2] if instance is None else found[0]
    return picture(chosen, frame, asked, side=THUMBNAIL_SIDE if thumbnail else None)
