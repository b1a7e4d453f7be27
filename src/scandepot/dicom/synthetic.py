"""Synthetic MR instances for tests, benchmarks and demonstrations.

Real enough for every part of scandepot that reads headers: a valid Part 10 file with
file meta, MR Image Storage, the study, series and patient attributes a scanner sends,
and 16-bit pixel data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from io import BytesIO
from typing import Any

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    ExplicitVRLittleEndian,
    MRImageStorage,
    generate_uid,
)

UID_ROOT = "1.2.826.0.1.3680043.8.498."  # pydicom's root, for generated UIDs


@dataclass
class Study:
    PatientName: str = "Doe^Jane"
    PatientID: str = "PAT001"
    StudyDescription: str = "Research^Brain"
    PatientComments: str | None = None
    StudyComments: str | None = None
    StudyDate: str = "20240301"
    StudyTime: str = "093000"
    AccessionNumber: str = "ACC001"
    StudyInstanceUID: str = field(default_factory=lambda: generate_uid(UID_ROOT))


@dataclass
class Series:
    SeriesNumber: int = 1
    SeriesDescription: str = "T1w MPRAGE"
    Modality: str = "MR"
    SeriesInstanceUID: str = field(default_factory=lambda: generate_uid(UID_ROOT))


def mr_instance(
    study: Study,
    series: Series,
    instance_number: int,
    *,
    rows: int = 256,
    columns: int = 256,
    seed: int | None = None,
    SOPInstanceUID: str | None = None,
    phantom_slices: int | None = None,
) -> Dataset:
    rng = np.random.default_rng(seed if seed is not None else instance_number)
    if phantom_slices:
        pixels = _phantom_slice(rng, rows, columns, instance_number, phantom_slices)
    else:
        pixels = rng.integers(0, 4096, size=(rows, columns), dtype=np.uint16)
    ds = Dataset()
    ds.SOPClassUID = MRImageStorage
    ds.SOPInstanceUID = SOPInstanceUID or generate_uid(UID_ROOT)
    _set_study(ds, study)
    _set_series(ds, series, instance_number)
    _set_equipment(ds)
    _set_image(ds, pixels, instance_number)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    return ds


def _phantom_slice(
    rng: np.random.Generator, rows: int, columns: int, number: int, slices: int
) -> np.ndarray[Any, np.dtype[np.uint16]]:
    """A ball of signal in low background noise: slice ``number`` of a head."""
    y, x = np.mgrid[0:rows, 0:columns]
    z = number - (slices + 1) / 2
    radius = 0.4 * min(rows, columns, slices * 2)
    inside = (y - rows / 2) ** 2 + (x - columns / 2) ** 2 + (2 * z) ** 2 < radius**2
    signal = np.where(inside, 2000.0, 0.0) + rng.normal(50, 20, size=(rows, columns))
    return np.clip(signal, 0, 4095).astype(np.uint16)


def _set_study(ds: Dataset, study: Study) -> None:
    """The patient and the study, as the scanner's worklist gave them."""
    ds.StudyInstanceUID = study.StudyInstanceUID
    ds.PatientName = study.PatientName
    ds.PatientID = study.PatientID
    ds.PatientBirthDate = "19800101"
    ds.PatientSex = "F"
    ds.StudyDate = study.StudyDate
    ds.StudyTime = study.StudyTime
    ds.StudyDescription = study.StudyDescription
    ds.AccessionNumber = study.AccessionNumber
    ds.ReferringPhysicianName = "Ref^Doc"
    ds.StudyID = "1"
    if study.PatientComments is not None:
        ds.PatientComments = study.PatientComments
    if study.StudyComments is not None:
        ds.StudyComments = study.StudyComments


def _set_series(ds: Dataset, series: Series, instance_number: int) -> None:
    ds.SeriesInstanceUID = series.SeriesInstanceUID
    ds.Modality = series.Modality
    ds.SeriesNumber = series.SeriesNumber
    ds.SeriesDescription = series.SeriesDescription
    ds.InstanceNumber = instance_number


def _set_equipment(ds: Dataset) -> None:
    ds.Manufacturer = "SYNTHETIC"
    ds.ManufacturerModelName = "Phantom 3T"
    ds.StationName = "MR1"
    ds.InstitutionName = "Imaging Centre"
    ds.MagneticFieldStrength = 3
    ds.BodyPartExamined = "BRAIN"


def _set_image(ds: Dataset, pixels: np.ndarray[Any, Any], instance_number: int) -> None:
    """One axial slice, 1 mm apart, of 12-bit unsigned pixels."""
    rows, columns = pixels.shape
    ds.ImagePositionPatient = [0, 0, float(instance_number)]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing = [1, 1]
    ds.SliceThickness = 1
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = rows
    ds.Columns = columns
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.PixelData = pixels.tobytes()


def to_bytes(ds: Dataset) -> bytes:
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def session_series(
    study: Study, series: list[Series], per_series: int, **kwargs: Any
) -> Iterator[Dataset]:
    for s in series:
        for number in range(1, per_series + 1):
            yield mr_instance(study, s, number, **kwargs)


def today() -> str:
    return dt.date.today().strftime("%Y%m%d")
