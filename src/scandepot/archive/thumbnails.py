"""A small picture per scan for web pages: the snapshots pipeline's mosaic when there is
one, else the middle frame of the middle instance of the scan's DICOM.

A picture is drawn once, on its first view, and kept under ``thumbnails/`` in the data
folder (written through storage/), named by the SHA-256 of the file it is drawn from:
later views read the PNG, and browsers keep it until that file changes. Drawing decodes
one frame only (a 400-frame JPEG instance once took a gigabyte to draw), from
an instance within :data:`MAX_SOURCE_BYTES` and :data:`MAX_FRAME_PIXELS`, and at most
:data:`DRAWING_AT_ONCE` pictures are drawn at a time.
"""

from __future__ import annotations

import io
import math
import re
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image
from sqlalchemy import select

from scandepot.access.actors import Actor
from scandepot.access.permissions import Action
from scandepot.archive import scans
from scandepot.archive.layout import Owner
from scandepot.archive.overview import SNAPSHOTS
from scandepot.catalog.archive import File, Resource
from scandepot.catalog.prearchive import Instance
from scandepot.context import Context
from scandepot.errors import NotFound, TooLarge

WIDTH = 192  # pixels: a column of a scans table on a laptop screen
MAX_SOURCE_BYTES = 1 << 30  # an instance (or snapshot) file larger than this is not drawn
MAX_FRAME_PIXELS = 1 << 25  # rows x columns x samples of the one frame decoded (32 Mi)
SCALED_SIDE = 1024  # the frame is subsampled to about this before any arithmetic
DRAWING_AT_ONCE = 2  # concurrent first views wait rather than decode side by side
FOLDER = "thumbnails"  # under the data folder, beside archive/ and tmp/
_SHA256 = re.compile(r"[0-9a-f]{64}")
_drawing = threading.BoundedSemaphore(DRAWING_AT_ONCE)


@dataclass(frozen=True, slots=True)
class Source:
    path: Path
    sha256: str
    kind: str  # "snapshot" or "dicom"


@dataclass(frozen=True, slots=True)
class Picture:
    png: bytes
    etag: str


def find_source(ctx: Context, actor: Actor, project: str, session: str, scan: str) -> Source:
    """The file a scan's picture is drawn from, if the actor may read the scan."""
    with ctx.db.read() as db:
        found = scans.load(db, actor, project, session, scan, Action.READ)
        owner = Owner(found.session.project, found.session.subject, found.session, found)
        snapshot = db.execute(
            select(File.path, File.sha256)
            .join(Resource, Resource.id == File.resource_id)
            .where(
                Resource.parent_key == owner.key,
                Resource.label == SNAPSHOTS,
                File.path.like("%.png"),
            )
            .order_by(File.path)
            .limit(1)
        ).first()
        if snapshot is not None:
            path = ctx.archive_path(owner.resource_files_dir(SNAPSHOTS) / snapshot.path)
            return Source(path, snapshot.sha256, "snapshot")
        instances = db.execute(
            select(File.path, File.sha256, Resource.label)
            .join(Instance, Instance.file_id == File.id)
            .join(Resource, Resource.id == File.resource_id)
            .where(Instance.scan_id == found.id)
            .order_by(Instance.InstanceNumber, File.path)
        ).all()
        if not instances:
            raise NotFound(f"Scan '{scan}' has no picture.", field="scan")
        middle = instances[len(instances) // 2]
        path = ctx.archive_path(owner.resource_files_dir(middle.label) / middle.path)
        return Source(path, middle.sha256, "dicom")


def etag(source: Source, *, width: int = WIDTH) -> str:
    """The picture's entity tag: it changes when its file does, and only then."""
    return f'"{source.sha256[:32]}-{width}"'


def stored_path(ctx: Context, source: Source, *, width: int = WIDTH) -> Path:
    """Where the picture of ``source`` is kept: by its file's SHA-256 and the width."""
    if not _SHA256.fullmatch(source.sha256):
        raise NotFound("The picture cannot be drawn: its file has no checksum.", field="scan")
    name = f"{source.sha256}-{width}.png"
    return ctx.store.data_dir / FOLDER / source.sha256[:2] / name


def picture(ctx: Context, source: Source, *, width: int = WIDTH) -> Picture:
    """The kept picture of ``source``; drawn and kept first if this is its first view."""
    path = stored_path(ctx, source, width=width)
    try:
        return Picture(path.read_bytes(), etag(source, width=width))
    except FileNotFoundError:
        pass
    drawn = draw(source, width=width)
    ctx.store.write(path, [drawn.png], overwrite=True)  # two first views: either wins
    return drawn


def draw(source: Source, *, width: int = WIDTH) -> Picture:
    size = source.path.stat().st_size
    if size > MAX_SOURCE_BYTES:
        raise TooLarge(
            f"The scan's picture is not drawn: its file holds {size} bytes, over the limit "
            f"of {MAX_SOURCE_BYTES} for drawing pictures.",
            field="scan",
        )
    with _drawing:
        try:
            image = _open(source)
        except TooLarge:
            raise
        except Exception as exc:  # noqa: BLE001 - pydicom, numpy and Pillow fail in many ways
            raise NotFound(f"The picture cannot be drawn: {exc}", field="scan") from None
        image.thumbnail((width, width * 4), Image.Resampling.BILINEAR)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return Picture(out.getvalue(), etag(source, width=width))


def thumbnail(
    ctx: Context, actor: Actor, project: str, session: str, scan: str, *, width: int = WIDTH
) -> Picture:
    return picture(ctx, find_source(ctx, actor, project, session, scan), width=width)


def _open(source: Source) -> Image.Image:
    if source.kind == "snapshot":
        with Image.open(source.path) as img:
            _check_pixels(img.width * img.height * len(img.getbands()))
            return img.convert("RGB")
    return _from_dicom(source.path)


def _check_pixels(count: int) -> None:
    if count > MAX_FRAME_PIXELS:
        raise TooLarge(
            f"The scan's picture is not drawn: a frame of its instance holds {count} "
            f"pixel values, over the limit of {MAX_FRAME_PIXELS} for drawing pictures.",
            field="scan",
        )


def _from_dicom(path: Path) -> Image.Image:
    """The middle frame, decoded alone (PS3.5 A.4: each frame of encapsulated pixel data
    is its own item, so the others are never decompressed)."""
    import pydicom

    header = pydicom.dcmread(path, stop_before_pixels=True)
    samples = int(header.get("SamplesPerPixel", 1) or 1)  # (0028,0002)
    rows, columns = int(header.Rows), int(header.Columns)  # (0028,0010), (0028,0011)
    _check_pixels(rows * columns * samples)
    frames = int(header.get("NumberOfFrames", 1) or 1)  # (0028,0008)
    with open(path, "rb") as fh:
        pixels = decode_frame(fh, index=frames // 2 if frames > 1 else None)
    step = max(1, math.ceil(max(rows, columns) / SCALED_SIDE))
    pixels = pixels[::step, ::step]
    if pixels.ndim == 3:  # colour: already RGB (pydicom converts YBR)
        return Image.fromarray(np.ascontiguousarray(pixels, dtype=np.uint8)).convert("RGB")
    return grey(pixels.astype(np.float32), header.get("PhotometricInterpretation", ""))


def decode_frame(fh: io.BufferedReader, *, index: int | None) -> NDArray[np.generic]:
    """One frame's pixels (``index`` None: the instance's only frame)."""
    from pydicom.pixels.utils import pixel_array

    found: NDArray[np.generic] = pixel_array(fh, index=index)
    return found


def grey(pixels: NDArray[np.float32], photometric: str) -> Image.Image:
    """A grey picture windowed at the 0.5th and 99.5th percentiles of ``pixels``."""
    lo, hi = (float(v) for v in np.percentile(pixels, [0.5, 99.5]))
    scaled = (np.clip(pixels, lo, hi) - lo) / (hi - lo if hi > lo else 1.0) * 255
    if photometric == "MONOCHROME1":
        scaled = 255 - scaled
    return Image.fromarray(np.asarray(scaled, dtype=np.uint8)).convert("L")
