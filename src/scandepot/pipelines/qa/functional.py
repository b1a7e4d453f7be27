"""Temporal metrics of a functional (4D) run: tSNR, DVARS, GSR, GCOR, AQI, outliers.

Sources (docs/qa.md has the formulas):
- tSNR, GSR, AQI, outlier fraction: Shehzad Z. et al. (2015), QAP; MRIQC "IQMs for
  functional images" (Esteban O. et al. 2017, PLoS ONE 12(9):e0184661).
- DVARS and its standardised form: Power J.D. et al. (2012) NeuroImage 59:2142;
  Nichols T.E. (2013), "Notes on creating a standardized version of DVARS",
  arXiv:1704.01469.
- GCOR: Saad Z.S. et al. (2013) Brain Connectivity 3(4):339.
- AQI: AFNI 3dTqual; outliers: AFNI 3dToutcount (Cox 1996).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.floating]
Mask = NDArray[np.bool_]


def timeseries(data: Array, mask: Mask) -> NDArray[np.float64]:
    """Voxels in the mask x time points."""
    return np.asarray(data[mask], dtype=np.float64)


def tsnr(ts: NDArray[np.float64]) -> float:
    """Median over the mask of the temporal mean over the temporal standard deviation."""
    sd = ts.std(axis=1, ddof=1)
    good = sd > 0
    return float(np.median(ts[good].mean(axis=1) / sd[good])) if good.any() else math.inf


def _ar1(ts: NDArray[np.float64]) -> NDArray[np.float64]:
    centred = ts - ts.mean(axis=1, keepdims=True)
    num = np.sum(centred[:, 1:] * centred[:, :-1], axis=1)
    den = np.sum(centred * centred, axis=1)
    return np.where(den > 0, num / np.where(den > 0, den, 1), 0.0)


def dvars(ts: NDArray[np.float64]) -> dict[str, NDArray[np.float64]]:
    """DVARS per frame (RMS over voxels of the frame-to-frame change), plain and
    standardised by its expectation under stationarity (Nichols 2013, as in MRIQC):
    E[DVARS] = mean over voxels of sqrt(2 (1 - AR1)) * robust SD."""
    diff = np.diff(ts, axis=1)
    plain = np.sqrt(np.mean(diff**2, axis=0))
    q75, q25 = np.percentile(ts, [75, 25], axis=1)
    robust_sd = (q75 - q25) / 1.349
    expected_sd = np.sqrt(np.clip(2 * (1 - _ar1(ts)), 0, None)) * robust_sd
    positive = expected_sd[expected_sd > 0]
    scale = float(positive.mean()) if positive.size else math.nan
    return {"plain": plain, "std": plain / scale}


def gcor(ts: NDArray[np.float64]) -> float:
    """Global correlation: the squared length of the mean of unit-length, demeaned
    voxel time series (Saad 2013), i.e. the average correlation over all voxel pairs."""
    centred = ts - ts.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(centred, axis=1)
    unit = centred[norms > 0] / norms[norms > 0, None]
    if unit.shape[0] == 0:
        return math.nan
    mean = unit.mean(axis=0)
    return float(mean @ mean)


def gsr(mean_image: Array, mask: Mask, axis: int) -> float:
    """Ghost to signal ratio along ``axis``: the N/2 ghost is the head mask shifted by half
    the field of view, outside the head; GSR = (mean(ghost) - mean(other air)) / mean(head).
    """
    shift = mean_image.shape[axis] // 2
    ghost = np.roll(mask, shift, axis=axis) & ~mask
    other = ~(mask | ghost)
    signal = float(np.mean(mean_image[mask]))
    if not ghost.any() or not other.any() or signal == 0:
        return math.nan
    return (float(np.mean(mean_image[ghost])) - float(np.mean(mean_image[other]))) / signal


def aqi(ts: NDArray[np.float64]) -> NDArray[np.float64]:
    """AFNI 3dTqual per frame: 1 - Spearman correlation of the frame with the median frame."""
    # scipy.stats takes most of a second to import: only the jobs that compute this pay
    # it, not every process that imports the pipelines (the server, the CLI).
    from scipy import stats

    median = np.median(ts, axis=1)
    ranked_median = stats.rankdata(median)
    out = np.empty(ts.shape[1])
    for t in range(ts.shape[1]):
        rho = np.corrcoef(stats.rankdata(ts[:, t]), ranked_median)[0, 1]
        out[t] = 1.0 - (rho if np.isfinite(rho) else 0.0)
    return out


def outliers(ts: NDArray[np.float64], q: float) -> NDArray[np.float64]:
    """AFNI 3dToutcount per frame: the fraction of voxels whose (detrended) value lies
    further than alpha * MAD from their median, alpha = Phi^-1(1 - q/N) * sqrt(pi/2)."""
    from scipy import stats  # see aqi()

    n = ts.shape[1]
    t = np.arange(n, dtype=np.float64)
    design = np.vstack([np.ones(n), t - t.mean()]).T
    coef, *_ = np.linalg.lstsq(design, ts.T, rcond=None)
    resid = ts - (design @ coef).T
    median = np.median(resid, axis=1, keepdims=True)
    mad = np.median(np.abs(resid - median), axis=1, keepdims=True)
    alpha = float(stats.norm.isf(q / n)) * math.sqrt(math.pi / 2)
    out = (np.abs(resid - median) > alpha * mad) & (mad > 0)
    return np.asarray(out.mean(axis=0), dtype=np.float64)


def metrics(data: Array, mask: Mask, *, outlier_q: float) -> dict[str, Any]:
    if data.shape[3] < 3:
        raise ValueError(f"A 4D run needs at least 3 volumes, this one has {data.shape[3]}.")
    ts = timeseries(data, mask)
    mean_image = data.mean(axis=3)
    dv = dvars(ts)
    aq = aqi(ts)
    outl = outliers(ts, outlier_q)
    gs = ts.mean(axis=0)
    return {
        "tsnr": tsnr(ts),
        "dvars": float(dv["plain"].mean()),
        "dvars_std": float(dv["std"].mean()),
        "gsr_x": gsr(mean_image, mask, 0),
        "gsr_y": gsr(mean_image, mask, 1),
        "gcor": gcor(ts),
        "aqi": float(aq.mean()),
        "outlier_fraction": float(outl.mean()),
        "volumes": int(data.shape[3]),
        "mask_voxels": int(mask.sum()),
        "series": {
            "dvars": [float(v) for v in dv["plain"]],
            "dvars_std": [float(v) for v in dv["std"]],
            "global_signal": [float(v) for v in gs],
            "aqi": [float(v) for v in aq],
            "outlier_fraction": [float(v) for v in outl],
        },
    }
