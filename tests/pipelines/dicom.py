"""DICOM for the pipeline tests: real Siemens files shipped with heudiconv and pydicom,
and synthetic series written with pydicom whose geometry and values are known."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pydicom
from numpy.typing import NDArray
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid


def heudiconv_data() -> Path:
    """heudiconv's test data folder, found without importing heudiconv."""
    spec = importlib.util.find_spec("heudiconv")
    assert spec is not None and spec.submodule_search_locations, "heudiconv is not installed"
    return Path(next(iter(spec.submodule_search_locations))) / "tests" / "data"


def pydicom_file(name: str) -> Path:
    # Named directly: pydicom.data's lookup tries downloads for files it does not ship.
    return Path(pydicom.__file__).parent / "data" / "test_files" / name


EPI_MOSAIC = "axasc35.dcm"  # Siemens EPI mosaic, 64x64x35, one volume
DWI_SERIES = "b0dwiForFmap"  # Siemens DWI, 3 mosaics -> 150x152x81x3 with bval/bvec
UNCONVERTIBLE = "MRI_102TD_PHA_S.MR.Chen_Matthews_1.3.1.2022.11.16.15.50.20.357.31204541.dcm"


def write_series(
    folder: Path,
    volume: NDArray[np.integer],
    *,
    series_number: int = 1,
    description: str = "T1w",
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.5),
    study_uid: str | None = None,
    repetition_time_s: float = 2.0,
) -> list[Path]:
    """One MR series, one file per slice (and per volume for 4D input, x, y, z[, t]).

    Axial slices with the identity orientation: array axis 0 runs along the columns (x,
    patient left), axis 1 along the rows (y, posterior), axis 2 is the slice (z, superior).
    """
    folder.mkdir(parents=True, exist_ok=True)
    data = volume if volume.ndim == 4 else volume[..., None]
    nx, ny, nz, nt = data.shape
    study_uid = study_uid or generate_uid()
    series_uid = generate_uid()
    frame_uid = generate_uid()
    paths = []
    for t in range(nt):
        for z in range(nz):
            meta = FileMetaDataset()
            meta.MediaStorageSOPClassUID = MRImageStorage
            meta.MediaStorageSOPInstanceUID = generate_uid()
            meta.TransferSyntaxUID = ExplicitVRLittleEndian
            ds = FileDataset("", {}, file_meta=meta, preamble=b"\0" * 128)
            ds.SOPClassUID = MRImageStorage
            ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
            ds.StudyInstanceUID = study_uid
            ds.SeriesInstanceUID = series_uid
            ds.FrameOfReferenceUID = frame_uid
            ds.Modality = "MR"
            ds.Manufacturer = "SIEMENS"
            ds.PatientName = "Synthetic^Volume"
            ds.PatientID = "SYN001"
            ds.StudyDate = "20240301"
            ds.StudyTime = "101500"
            ds.SeriesDate = "20240301"
            ds.SeriesTime = "101500"
            seconds = 10 * 3600 + 15 * 60 + t * repetition_time_s
            hh, mm, ss = int(seconds // 3600), int(seconds % 3600 // 60), seconds % 60
            ds.AcquisitionTime = f"{hh:02d}{mm:02d}{ss:09.6f}"
            ds.SeriesNumber = series_number
            ds.SeriesDescription = description
            ds.ProtocolName = description
            ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "ND"]
            ds.AcquisitionNumber = t + 1
            ds.InstanceNumber = t * nz + z + 1
            ds.TemporalPositionIdentifier = t + 1
            ds.NumberOfTemporalPositions = nt
            ds.ImagePositionPatient = [0.0, 0.0, float(z * spacing[2])]
            ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
            ds.PixelSpacing = [spacing[1], spacing[0]]  # row spacing (y), column spacing (x)
            ds.SliceThickness = spacing[2]
            ds.SpacingBetweenSlices = spacing[2]
            ds.SliceLocation = float(z * spacing[2])
            ds.RepetitionTime = repetition_time_s * 1000
            ds.EchoTime = 30.0
            ds.FlipAngle = 90.0
            ds.MagneticFieldStrength = 3.0
            ds.ScanningSequence = "EP" if nt > 1 else "GR"
            ds.SequenceVariant = "SK"
            ds.MRAcquisitionType = "2D"
            ds.SamplesPerPixel = 1
            ds.PhotometricInterpretation = "MONOCHROME2"
            ds.Rows, ds.Columns = ny, nx
            ds.BitsAllocated = 16
            ds.BitsStored = 16
            ds.HighBit = 15
            ds.PixelRepresentation = 0
            # Rows run along y, columns along x: the stored frame is the slice transposed.
            ds.PixelData = np.ascontiguousarray(data[:, :, z, t].T.astype(np.uint16)).tobytes()
            path = folder / f"{series_number:03d}_{t:04d}_{z:04d}.dcm"
            ds.save_as(path, enforce_file_format=True)
            paths.append(path)
    return paths


def phantom(
    shape: tuple[int, ...], *, signal: float = 1000.0, noise: float = 0.0, seed: int = 0
) -> NDArray[np.float64]:
    """An ellipsoid of constant ``signal`` in a box, with Gaussian noise of SD ``noise``
    everywhere (plus an offset so that values stay positive for uint16)."""
    rng = np.random.default_rng(seed)
    nx, ny, nz = shape[:3]
    x, y, z = np.ogrid[:nx, :ny, :nz]
    inside = (
        ((x - nx / 2) / (nx * 0.3)) ** 2
        + ((y - ny / 2) / (ny * 0.35)) ** 2
        + ((z - nz / 2) / (nz * 0.35)) ** 2
    ) <= 1
    clean = np.where(inside, signal, 0.0)
    if len(shape) == 4:
        clean = np.repeat(clean[..., None], shape[3], axis=3)
    return clean + rng.normal(0, noise, clean.shape) if noise else clean
