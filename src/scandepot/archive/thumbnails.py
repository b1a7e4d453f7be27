"""A small picture per scan for web pages: the snapshots pipeline's mosaic when there is
one, else the middle slice of the scan's DICOM, drawn on demand.

The picture is named by the SHA-256 of the file it is drawn from, so browsers keep it
until that file changes.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from sqlalchemy import select

from scandepot.access.actors import Actor
from scandepot.access.permissions import Action
from scandepot.archive import scans
from scandepot.archive.layout import Owner
from scandepot.archive.models import File, Resource
from scandepot.archive.overview import SNAPSHOTS
from scandepot.context import Context
from scandepot.errors import NotFound
from scandepot.prearchive.models import Instance

WIDTH = 192  # pixels: a column of a scans table on a laptop screen


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


def draw(source: Source, *, width: int = WIDTH) -> Picture:
    try:
        image = _open(source)
    except Exception as exc:  # noqa: BLE001 - pydicom, numpy and Pillow fail in many ways
        raise NotFound(f"The picture cannot be drawn: {exc}", field="scan") from None
    image.thumbnail((width, width * 4), Image.Resampling.BILINEAR)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return Picture(out.getvalue(), etag(source, width=width))


def thumbnail(
    ctx: Context, actor: Actor, project: str, session: str, scan: str, *, width: int = WIDTH
) -> Picture:
    return draw(find_source(ctx, actor, project, session, scan), width=width)


def _open(source: Source) -> Image.Image:
    if source.kind == "snapshot":
        with Image.open(source.path) as img:
            return img.convert("RGB")
    import pydicom

    ds = pydicom.dcmread(source.path)
    pixels = np.asarray(ds.pixel_array, dtype=np.float64)
    if pixels.ndim == 4:  # frames of colour pictures: the middle frame
        pixels = pixels[pixels.shape[0] // 2]
    elif pixels.ndim == 3 and getattr(ds, "SamplesPerPixel", 1) == 1:
        pixels = pixels[pixels.shape[0] // 2]  # a multi-frame image: its middle frame
    if pixels.ndim == 3:
        return Image.fromarray(np.asarray(pixels, dtype=np.uint8)).convert("RGB")
    lo, hi = (float(v) for v in np.percentile(pixels, [0.5, 99.5]))
    scaled = (np.clip(pixels, lo, hi) - lo) / (hi - lo if hi > lo else 1.0) * 255
    if getattr(ds, "PhotometricInterpretation", "") == "MONOCHROME1":
        scaled = 255 - scaled
    return Image.fromarray(np.asarray(scaled, dtype=np.uint8)).convert("L")
