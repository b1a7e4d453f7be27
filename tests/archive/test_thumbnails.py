"""A scan's picture: one frame decoded, within limits, drawn once and kept."""

from __future__ import annotations

import contextlib
import io
import os
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.uid import JPEGBaseline8Bit, SecondaryCaptureImageStorage

from scandepot.access.actors import SYSTEM
from scandepot.archive import thumbnails
from scandepot.context import Context
from scandepot.dicom.synthetic import Series, Study, mr_instance, to_bytes
from scandepot.errors import TooLarge
from scandepot.ingest.receive import Source, receive
from scandepot.prearchive import worker

FRAMES = 120
SIDE = 256
E = "/projects/P/sessions/E1"


def jpeg_instance(frames: int = FRAMES, side: int = SIDE, *, only: int | None = None) -> Dataset:
    """A multi-frame JPEG (baseline, 8 bit) instance: each frame its own JPEG, as
    encapsulated pixel data holds them (PS3.5 A.4). With ``only``, every other frame holds
    bytes that are no JPEG: decoding any of them fails."""
    ds = mr_instance(Study(), Series(1, "cine"), 1, rows=side, columns=side)
    ds.SOPClassUID = SecondaryCaptureImageStorage
    y, x = np.mgrid[0:side, 0:side]
    encoded = []
    for k in range(frames):
        if only is not None and k != only:
            encoded.append(b"not a JPEG frame")
            continue
        frame = ((x + y + 2 * k) % 256).astype(np.uint8)
        out = io.BytesIO()
        Image.fromarray(frame, mode="L").save(out, format="JPEG", quality=90)
        encoded.append(out.getvalue())
    ds.PixelData = encapsulate(encoded)
    ds["PixelData"].VR = "OB"
    ds.NumberOfFrames = frames
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    ds.SamplesPerPixel, ds.PixelRepresentation = 1, 0
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    return ds


@pytest.fixture
def archive_one(ctx: Context, make_project: Callable[..., str]) -> Callable[[Dataset], Any]:
    make_project("public", label="P", upload_destination="archive")
    ctx.settings.prearchive_quiet_s = 0

    def put(ds: Dataset) -> thumbnails.Source:
        with ctx.store.stage() as staged:
            staged.write(to_bytes(ds))
            receive(ctx, staged, Source("upload", project="P", subject="S1", session="E1"))
        worker.run_once(ctx)
        return thumbnails.find_source(ctx, SYSTEM, "P", "E1", "1")

    return put


def test_a_many_frame_instance_draws_in_little_memory(
    ctx: Context, archive_one: Callable[[Dataset], thumbnails.Source]
) -> None:
    source = archive_one(jpeg_instance())
    # Every frame as float64 would be FRAMES * SIDE**2 * 8 bytes (63 MB here).
    tracemalloc.start()
    try:
        drawn = thumbnails.draw(source)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20, peak
    image = Image.open(io.BytesIO(drawn.png))
    assert image.size == (thumbnails.WIDTH, thumbnails.WIDTH)
    # The middle frame, not the first: its pattern is shifted by 2 * (FRAMES // 2).
    first = np.asarray(image)[0, 0]
    assert first != 0


@contextlib.contextmanager
def away(source: thumbnails.Source) -> Iterator[None]:
    """The source's file out of reach meanwhile: drawing a picture would fail."""
    hidden = source.path.with_name(source.path.name + ".away")
    source.path.rename(hidden)
    try:
        yield
    finally:
        hidden.rename(source.path)


def test_the_picture_is_drawn_when_the_scan_is_archived(
    ctx: Context,
    client: Any,
    actors: dict[str, Any],
    archive_one: Callable[[Dataset], thumbnails.Source],
) -> None:
    source = archive_one(jpeg_instance(frames=4))  # the app is wired: pictures drawn
    client.app.state.thumbnails.wait()
    kept = thumbnails.stored_path(ctx, source)
    assert kept.is_file() and kept.name.startswith(source.sha256)
    with away(source):  # no page view decodes anything
        first = client.get(f"{E}/scans/1/thumbnail.png")
        assert first.status_code == 200 and first.headers["content-type"] == "image/png"
        assert first.content == kept.read_bytes()
        again = client.get(f"{E}/scans/1/thumbnail.png", auth=actors["outsider"])
        assert again.status_code == 200 and again.content == first.content
    assert list(ctx.store.tmp.iterdir()) == []


def test_a_picture_missing_is_drawn_once_on_its_first_view(
    ctx: Context, archive_one: Callable[[Dataset], thumbnails.Source]
) -> None:
    # Only the middle frame is a JPEG: the picture is drawn from it alone.
    source = archive_one(jpeg_instance(frames=4, only=2))  # no app: nothing drew it
    assert not thumbnails.stored_path(ctx, source).exists()
    first = thumbnails.picture(ctx, source)
    assert thumbnails.stored_path(ctx, source).read_bytes() == first.png
    with away(source):  # not decoded again
        assert thumbnails.picture(ctx, source).png == first.png


def test_an_instance_over_the_limits_is_not_drawn(
    ctx: Context, archive_one: Callable[[Dataset], thumbnails.Source]
) -> None:
    # Frames of 8192 x 8192 by the header (their JPEGs are small): over MAX_FRAME_PIXELS.
    wide = jpeg_instance(frames=2, side=64)
    wide.Rows = wide.Columns = 8192
    assert 8192 * 8192 > thumbnails.MAX_FRAME_PIXELS
    source = archive_one(wide)
    with pytest.raises(TooLarge, match="pixel values, over the limit"):
        thumbnails.picture(ctx, source)
    # A file past MAX_SOURCE_BYTES (sparse: it takes no room on the disk).
    os.truncate(source.path, thumbnails.MAX_SOURCE_BYTES + 1)
    with pytest.raises(TooLarge, match="bytes, over the limit"):
        thumbnails.picture(ctx, source)
    assert not thumbnails.stored_path(ctx, source).exists()
