"""Spatial metrics of a structural (3D) image: SNR, FBER, EFC, FWHM, Qi1.

Shehzad Z. et al. (2015). The Preprocessed Connectomes Project Quality Assessment
Protocol. Front. Neuroinform. Conference Abstract: Neuroinformatics 2015.
Esteban O. et al. (2017). MRIQC. PLoS ONE 12(9):e0184661; mriqc.readthedocs.io, "IQMs".
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from scandepot.pipelines.qa.mask import MaskError

Array = NDArray[np.floating]
Mask = NDArray[np.bool_]


def background(mask: Mask, *, margin: int = 3) -> Mask:
    """Air: outside the head mask dilated by ``margin`` voxels (keeps edges out)."""
    grown = ndimage.binary_dilation(mask, iterations=margin)
    return np.asarray(~grown, dtype=bool)


def snr(data: Array, mask: Mask, air: Mask) -> float:
    """QAP SNR: mean inside the head over the standard deviation of the air."""
    sd = float(np.std(data[air], ddof=1))
    return float(np.mean(data[mask])) / sd if sd > 0 else math.inf


def fber(data: Array, mask: Mask, air: Mask) -> float:
    """Foreground to background energy ratio: mean |x|^2 inside over mean |x|^2 in air."""
    bg = float(np.mean(np.abs(data[air]) ** 2))
    fg = float(np.mean(np.abs(data[mask]) ** 2))
    return fg / bg if bg > 0 else math.inf


def efc(data: Array) -> float:
    """Entropy focus criterion (Atkinson 1997), normalised by its maximum (MRIQC)."""
    x = np.abs(data.astype(np.float64)).ravel()
    n = x.size
    bmax = math.sqrt(float(np.sum(x**2)))
    if bmax == 0:
        return 0.0
    efc_max = n * (1.0 / math.sqrt(n)) * math.log(1.0 / math.sqrt(n))
    b = x / bmax
    entropy = float(np.sum(b * np.log(b + 1e-16)))
    return entropy / efc_max


def fwhm(data: Array, mask: Mask, zooms: tuple[float, ...]) -> dict[str, float]:
    """Smoothness from first differences, as AFNI 3dFWHMx's classic estimate.

    For a Gaussian-smoothed field the correlation of neighbours is
    rho = 1 - var(diff) / (2 var), and FWHM = sqrt(-2 ln 2 / ln rho) voxels.
    """
    x = data.astype(np.float64)
    inside = x[mask]
    var = float(np.var(inside))
    result: dict[str, float] = {}
    for axis, name in enumerate("xyz"):
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[axis], hi[axis] = slice(0, -1), slice(1, None)
        both = mask[tuple(lo)] & mask[tuple(hi)]
        diff = (x[tuple(hi)] - x[tuple(lo)])[both]
        rho = 1.0 - float(np.var(diff)) / (2 * var) if var > 0 else 0.0
        if 0 < rho < 1:
            result[f"fwhm_{name}"] = math.sqrt(-2 * math.log(2) / math.log(rho)) * zooms[axis]
        else:
            result[f"fwhm_{name}"] = math.nan
    values = [result[f"fwhm_{n}"] for n in "xyz"]
    result["fwhm_avg"] = float(np.mean(values))
    return result


def qi1(data: Array, air: Mask) -> float:
    """Simplified Qi1 (Mortamet 2009): the fraction of air voxels with artefactual signal.

    Without registration there is no atlas-based exclusion of the neck and face, so air is
    "outside the dilated head mask". Artefact voxels are air voxels brighter than the air's
    median plus five robust standard deviations, cleaned by a binary opening.
    """
    values = data[air]
    if values.size == 0:
        return 0.0
    median = float(np.median(values))
    mad = float(np.median(np.abs(values - median))) * 1.4826
    if mad == 0:
        mad = float(np.std(values)) or 1.0
    bright = (data > median + 5 * mad) & air
    artefacts = ndimage.binary_opening(bright, iterations=1)
    return float(artefacts.sum()) / float(air.sum())


def metrics(data: Array, mask: Mask, zooms: tuple[float, ...]) -> dict[str, float]:
    air = background(mask)
    if not air.any():
        raise MaskError("No background left outside the head mask; SNR cannot be measured.")
    out = {
        "snr": snr(data, mask, air),
        "fber": fber(data, mask, air),
        "efc": efc(data),
        "qi1": qi1(data, air),
        "mask_voxels": float(mask.sum()),
    }
    out.update(fwhm(data, mask, zooms))
    return out
