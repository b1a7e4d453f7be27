"""PNG pictures for people: slice mosaics (with a mask drawn over) and line plots.

Pillow only; no plotting library. Intensities are windowed at the 0.5th and 99.5th
percentiles so that one bright vessel does not leave the brain black.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw

BACKGROUND = (255, 255, 255)
COLOURS = ((31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189))


def _to_uint8(slab: NDArray[np.floating], lo: float, hi: float) -> NDArray[np.uint8]:
    scaled = (np.clip(slab, lo, hi) - lo) / (hi - lo if hi > lo else 1.0) * 255
    return np.asarray(scaled, dtype=np.uint8)


def mosaic(
    volume: NDArray[np.floating],
    *,
    slices: int,
    width: int,
    mask: NDArray[np.bool_] | None = None,
) -> Image.Image:
    """Axial slices (the third axis) side by side, bottom to top, superior up."""
    data = np.nan_to_num(volume.astype(np.float64))
    if data.ndim == 2:
        data = data[:, :, None]
    depth = data.shape[2]
    count = max(1, min(slices, depth))
    picks = np.unique(np.linspace(0, depth - 1, count + 2)[1:-1].round().astype(int))
    if picks.size == 0:
        picks = np.array([depth // 2])
    lo, hi = (float(v) for v in np.percentile(data, [0.5, 99.5]))
    cols = math.ceil(math.sqrt(picks.size))
    rows = math.ceil(picks.size / cols)
    tile_w, tile_h = data.shape[0], data.shape[1]
    canvas = Image.new("RGB", (cols * tile_w, rows * tile_h), (0, 0, 0))
    for i, z in enumerate(picks):
        # Array (x, y) to picture (row = y flipped, column = x): anterior / superior up.
        grey = _to_uint8(data[:, :, z].T[::-1, :], lo, hi)
        tile = Image.fromarray(grey).convert("RGB")
        if mask is not None:
            outline = _outline(mask[:, :, z].T[::-1, :])
            rgb = np.asarray(tile).copy()
            rgb[outline] = (255, 40, 40)
            tile = Image.fromarray(rgb)
        canvas.paste(tile, ((i % cols) * tile_w, (i // cols) * tile_h))
    height = max(1, round(canvas.height * width / canvas.width))
    return canvas.resize((width, height), Image.Resampling.BILINEAR)


def _outline(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    from scipy import ndimage

    inner = ndimage.binary_erosion(mask)
    return np.asarray(mask & ~inner, dtype=bool)


def line_plot(
    series: Sequence[tuple[str, Sequence[float]]], *, width: int = 900, height: int = 200
) -> Image.Image:
    """One panel per series, stacked, each scaled to its own range, its name and range
    written in the corner."""
    margin = 8
    img = Image.new("RGB", (width, height * len(series)), BACKGROUND)
    draw = ImageDraw.Draw(img)
    for k, (name, values) in enumerate(series):
        top = k * height
        finite = [v for v in values if math.isfinite(v)]
        draw.rectangle(
            (margin, top + margin, width - margin, top + height - margin), outline=(180, 180, 180)
        )
        if len(finite) >= 2:
            lo, hi = min(finite), max(finite)
            span = hi - lo or 1.0
            step = (width - 2 * margin) / max(1, len(values) - 1)
            points = [
                (
                    margin + i * step,
                    top + height - margin - (v - lo) / span * (height - 2 * margin),
                )
                for i, v in enumerate(values)
                if math.isfinite(v)
            ]
            draw.line(points, fill=COLOURS[k % len(COLOURS)], width=2)
            label = f"{name}  [{lo:.4g}, {hi:.4g}]"
        else:
            label = f"{name}  (too few values)"
        draw.text((margin + 4, top + margin + 2), label, fill=(0, 0, 0))
    return img


def save(image: Image.Image, path: Path) -> None:
    image.save(path, format="PNG", optimize=False)
