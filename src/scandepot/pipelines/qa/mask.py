"""The head mask: Otsu's threshold, the largest connected part, holes filled.

Otsu, N. (1979). A threshold selection method from gray-level histograms. IEEE Trans.
Syst. Man Cybern. 9(1):62-66.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

MIN_EDGE = 8  # voxels along each spatial axis; anything smaller is not a volume to assess


class MaskError(ValueError):
    """No head mask can be made, or it leaves nothing to measure against: the image cannot
    be assessed, for a reason to tell the people who look at the job."""


def otsu_threshold(values: NDArray[np.floating], bins: int = 256) -> float:
    """The threshold that maximises the between-class variance of the histogram."""
    hist, edges = np.histogram(values, bins=bins)
    hist = hist.astype(np.float64)
    centers = (edges[:-1] + edges[1:]) / 2
    weight1 = np.cumsum(hist)
    weight2 = np.cumsum(hist[::-1])[::-1]
    mean1 = np.cumsum(hist * centers) / np.maximum(weight1, 1e-12)
    mean2 = (np.cumsum((hist * centers)[::-1]) / np.maximum(weight2[::-1], 1e-12))[::-1]
    between = weight1[:-1] * weight2[1:] * (mean1[:-1] - mean2[1:]) ** 2
    # Class one is bins 0..i, so the threshold is that bin's upper edge. An empty stretch
    # of histogram between two modes gives equal scores: take the middle of it.
    best = np.flatnonzero(between >= between.max() * (1 - 1e-12))
    return float(edges[int(best[len(best) // 2]) + 1])


def head_mask(volume: NDArray[np.floating], *, min_voxels: int) -> NDArray[np.bool_]:
    if volume.ndim != 3 or min(volume.shape) < MIN_EDGE:
        raise MaskError(
            f"The volume is too small to mask ({'x'.join(map(str, volume.shape))}; "
            f"at least {MIN_EDGE} voxels along each axis are needed)."
        )
    finite = np.isfinite(volume)
    data = np.where(finite, volume, 0)
    if float(data.max()) <= float(data.min()):
        raise MaskError("The volume is constant; there is no head to mask.")
    mask = data > otsu_threshold(data[finite])
    labels, count = ndimage.label(mask)
    if count == 0:
        raise MaskError("Otsu thresholding found no foreground.")
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    mask = labels == int(np.argmax(sizes))
    mask = ndimage.binary_closing(mask, iterations=2, border_value=0) | mask
    mask = ndimage.binary_fill_holes(mask)
    voxels = int(mask.sum())
    if voxels < min_voxels:
        raise MaskError(f"The head mask has {voxels} voxels, fewer than the {min_voxels} needed.")
    return np.asarray(mask, dtype=bool)
