"""Quality metrics on synthetic volumes whose true values are known.

Each assertion states its tolerance; the reasoning behind each expected value is in the
test's docstring and in docs/qa.md.
"""

from __future__ import annotations

import math
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from scandepot.pipelines.jobrun import PipelineError
from scandepot.pipelines.qa import functional, structural
from scandepot.pipelines.qa.mask import MaskError, head_mask, otsu_threshold
from scandepot.pipelines.qa.run import assess
from tests.pipelines.dicom import phantom

SIGNAL, NOISE, OFFSET = 1000.0, 20.0, 100.0


@pytest.fixture(scope="module")
def volume() -> np.ndarray:
    return phantom((64, 64, 48), signal=SIGNAL, noise=NOISE, seed=3) + OFFSET


def test_otsu_splits_two_modes() -> None:
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.normal(100, 10, 5000), rng.normal(900, 10, 5000)])
    assert 400 < otsu_threshold(values) < 600


def test_head_mask_is_the_ellipsoid(volume: np.ndarray) -> None:
    truth = phantom((64, 64, 48), signal=1.0) > 0
    mask = head_mask(volume, min_voxels=100)
    assert (mask != truth).sum() / truth.sum() < 0.01


def test_too_small_or_empty_volumes_are_refused() -> None:
    with pytest.raises(MaskError, match="too small to mask"):
        head_mask(np.ones((6, 6, 4)), min_voxels=10)
    with pytest.raises(MaskError, match="constant"):
        head_mask(np.zeros((16, 16, 16)), min_voxels=10)
    tiny = np.zeros((32, 32, 32))
    tiny[10:12, 10:12, 10:12] = 100
    with pytest.raises(MaskError, match="fewer than the 500 needed"):
        head_mask(tiny, min_voxels=500)


def test_snr_and_fber_match_signal_and_noise(volume: np.ndarray) -> None:
    """SNR = mean(head) / SD(air) = (SIGNAL + OFFSET) / NOISE = 55; FBER = mean energy
    inside / outside = (1100^2 + 20^2) / (100^2 + 20^2) = 116.39. Within 3 %."""
    mask = head_mask(volume, min_voxels=100)
    air = structural.background(mask)
    assert structural.snr(volume, mask, air) == pytest.approx(55.0, rel=0.03)
    assert structural.fber(volume, mask, air) == pytest.approx(116.39, rel=0.03)


def test_efc_bounds() -> None:
    """A uniform image has maximal entropy (EFC = 1); a single bright voxel has none (0)."""
    assert structural.efc(np.full((16, 16, 16), 7.0)) == pytest.approx(1.0, abs=1e-9)
    spike = np.zeros((16, 16, 16))
    spike[3, 4, 5] = 1.0
    assert structural.efc(spike) == pytest.approx(0.0, abs=1e-9)


def test_fwhm_of_smoothed_noise() -> None:
    """White noise smoothed by a Gaussian of SD s voxels has FWHM sqrt(8 ln 2) s voxels;
    with s = 2 and voxels of 1 x 1 x 2 mm: 4.71, 4.71 and 9.42 mm. Within 10 %."""
    rng = np.random.default_rng(4)
    field = ndimage.gaussian_filter(rng.normal(size=(96, 96, 96)), sigma=2.0)
    mask = np.zeros(field.shape, dtype=bool)
    mask[8:-8, 8:-8, 8:-8] = True
    result = structural.fwhm(field, mask, (1.0, 1.0, 2.0))
    expected = math.sqrt(8 * math.log(2)) * 2.0
    assert result["fwhm_x"] == pytest.approx(expected, rel=0.10)
    assert result["fwhm_y"] == pytest.approx(expected, rel=0.10)
    assert result["fwhm_z"] == pytest.approx(2 * expected, rel=0.10)


def test_qi1_counts_artefacts_in_the_air(volume: np.ndarray) -> None:
    """Clean Gaussian air has (almost) no voxel 5 robust SDs above its median; a bright
    block in the air is counted, as a fraction of the air, within 10 %."""
    mask = head_mask(volume, min_voxels=100)
    air = structural.background(mask)
    assert structural.qi1(volume, air) < 0.001
    ghost = volume.copy()
    block = np.zeros(volume.shape, dtype=bool)
    block[0:6, 0:20, 10:30] = True
    block &= air
    ghost[block] += 500
    assert structural.qi1(ghost, air) == pytest.approx(block.sum() / air.sum(), rel=0.10)


def run4d(t: int = 60, noise: float = NOISE, seed: int = 5) -> np.ndarray:
    return phantom((32, 32, 20, t), signal=SIGNAL, noise=noise, seed=seed) + OFFSET


def test_tsnr_of_a_stationary_run() -> None:
    """Constant signal plus white noise: mean / SD over time = 1100 / 20 = 55, within 5 %."""
    data = run4d()
    mask = head_mask(data.mean(axis=3), min_voxels=100)
    assert functional.tsnr(functional.timeseries(data, mask)) == pytest.approx(55, rel=0.05)


def test_dvars_of_white_noise() -> None:
    """Frame differences of white noise of SD sigma have RMS sigma * sqrt(2) (28.3 here);
    the standardised DVARS, DVARS over its expectation, is 1. Within 5 %."""
    data = run4d()
    mask = head_mask(data.mean(axis=3), min_voxels=100)
    dv = functional.dvars(functional.timeseries(data, mask))
    assert dv["plain"].mean() == pytest.approx(NOISE * math.sqrt(2), rel=0.05)
    assert dv["std"].mean() == pytest.approx(1.0, rel=0.05)


def test_gcor_from_independent_to_shared_signal() -> None:
    """Independent voxels correlate at 0; adding a global signal of the noise's variance
    makes every pair correlate at 1/2. Within 0.02 / 0.05."""
    rng = np.random.default_rng(6)
    noise = rng.normal(size=(2000, 200))
    assert functional.gcor(noise) == pytest.approx(0.0, abs=0.02)
    shared = noise + rng.normal(size=200)[None, :]
    assert functional.gcor(shared) == pytest.approx(0.5, abs=0.05)


def test_gsr_measures_an_n_over_2_ghost() -> None:
    """A copy of the head at 5 % intensity shifted by half the field of view along y:
    GSR_y = 0.05 x 1000 / 1100 (within 0.005). GSR_x stays small: its ghost region only
    catches the corners of the y ghost (under 0.02)."""
    clean = phantom((64, 64, 24), signal=SIGNAL)
    ghost = np.roll(clean, 32, axis=1) * 0.05
    image = clean + ghost * (clean == 0) + OFFSET
    mask = head_mask(image, min_voxels=100)
    assert functional.gsr(image, mask, 1) == pytest.approx(
        0.05 * SIGNAL / (SIGNAL + OFFSET), abs=0.005
    )
    assert abs(functional.gsr(image, mask, 0)) < 0.02


def test_aqi_flags_a_frame_unlike_the_others() -> None:
    """Frames that equal the median up to small noise have AQI near 0; a frame whose voxels
    were shuffled has rank correlation ~0 with the median, so AQI ~1."""
    rng = np.random.default_rng(7)
    pattern = rng.normal(size=5000)
    ts = pattern[:, None] + rng.normal(scale=0.01, size=(5000, 20))
    ts[:, 7] = rng.permutation(ts[:, 7])
    aqi = functional.aqi(ts)
    assert aqi[7] == pytest.approx(1.0, abs=0.1)
    assert np.delete(aqi, 7).max() < 0.01


def test_outlier_fraction_finds_spikes() -> None:
    """Spikes of 20 SD in 2 % of the voxels at one frame: that frame's outlier fraction is
    0.02 (within 0.005); the others' stays near the false-positive rate (3dToutcount's
    sqrt(pi/2) MAD scale makes that about 0.001 for Gaussian noise; under 0.003)."""
    rng = np.random.default_rng(8)
    ts = 1000 + rng.normal(scale=10, size=(10_000, 100))
    hit = rng.choice(10_000, 200, replace=False)
    ts[hit, 50] += 200
    fraction = functional.outliers(ts, 0.001)
    assert fraction[50] == pytest.approx(0.02, abs=0.005)
    assert np.delete(fraction, 50).max() < 0.003


def test_an_image_that_cannot_be_assessed_says_why(tmp_path: Path) -> None:
    """A head that fills the field of view leaves no air to measure noise in: the image is
    refused with that reason (the job reports it), not as an error of the pipeline."""
    data = np.zeros((20, 20, 20), np.float32)
    data[1:19, 1:19, 1:19] = SIGNAL
    data += np.random.default_rng(5).normal(0, NOISE, data.shape).astype(np.float32)
    path = tmp_path / "full.nii.gz"
    nib.save(nib.Nifti1Image(data, np.eye(4)), path)
    parameters = {"skip_volumes": 0, "outlier_q": 0.001, "min_mask_voxels": 500, "plots": False}
    with pytest.raises(PipelineError, match="full.nii.gz: No background left outside"):
        assess(path, parameters, tmp_path)
    assert not list(tmp_path.glob("*_qa.json"))
