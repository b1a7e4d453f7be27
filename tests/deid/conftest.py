"""Data for the de-identification tests: real files (heudiconv's Siemens MR, pydicom's
bundled CT, MR, SC, RT, SR, overlay and private-sequence files) and small datasets."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pydicom
from pydicom import Dataset, dcmread
from pydicom.sequence import Sequence

PYDICOM_FILES = (
    "CT_small.dcm",
    "MR_small.dcm",
    "SC_rgb_small_odd.dcm",
    "examples_rgb_color.dcm",  # US
    "examples_ybr_color.dcm",  # US multi-frame
    "reportsi.dcm",  # Basic Text SR
    "rtplan.dcm",
    "rtstruct.dcm",
    "rtdose_1frame.dcm",
    "test-SR.dcm",
    "examples_overlay.dcm",
    "nested_priv_SQ.dcm",
    "waveform_ecg.dcm",
)


def heudiconv_files() -> list[Path]:
    """heudiconv's Siemens test files (found without importing heudiconv)."""
    spec = importlib.util.find_spec("heudiconv")
    assert spec is not None and spec.submodule_search_locations, "heudiconv is not installed"
    folder = Path(next(iter(spec.submodule_search_locations))) / "tests" / "data"
    files = sorted(folder.rglob("*.dcm"))
    assert files, f"no DICOM in {folder}"
    return files


def pydicom_file(name: str) -> Path:
    path = Path(pydicom.__file__).parent / "data" / "test_files" / name
    assert path.is_file(), f"{name} is not bundled with pydicom"
    return path


def real_files() -> list[Path]:
    return heudiconv_files()[:4] + [pydicom_file(name) for name in PYDICOM_FILES]


def read(path: Path) -> Dataset:
    # rtstruct.dcm has no file meta: read as a dataset all the same.
    return dcmread(path, force=True)


def person_dataset() -> Dataset:
    """A small MR instance whose patient's name also sits in a nested sequence's free text
    and in a private attribute, with a referenced instance UID inside a sequence."""
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
    ds.SOPInstanceUID = "1.2.3.4.5.6.7"
    ds.StudyInstanceUID = "1.2.3.4.5"
    ds.SeriesInstanceUID = "1.2.3.4.5.6"
    ds.PatientName = "Doe^Jane"
    ds.PatientID = "MRN12345"
    ds.PatientBirthDate = "19700215"
    ds.StudyDate = "20240102"
    ds.SeriesDate = "20240102"
    ds.StudyTime = "101500"
    ds.AccessionNumber = "ACC998877"
    ds.StudyDescription = "Brain study for Jane Doe"
    ds.Modality = "MR"
    ref = Dataset()
    ref.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
    ref.ReferencedSOPInstanceUID = "1.2.3.4.5.6.8"
    inner = Dataset()
    inner.CodeValue = "X1"
    inner.CodeMeaning = "Doe^Jane"
    ref.PurposeOfReferenceCodeSequence = Sequence([inner])
    ds.ReferencedImageSequence = Sequence([ref])
    ds.add_new(0x00090010, "LO", "ACME 1.0")
    ds.add_new(0x00091001, "LO", "Doe^Jane")
    return ds


def enhanced_mr(path: Path) -> Path:
    """An Enhanced MR Image instance (multi-frame, functional groups) made from pydicom's
    MR_small: its header and pixels, its frame's time and references moved into the
    per-frame and shared functional group sequences, as enhanced scanners write them."""
    from pydicom.uid import generate_uid

    ds = dcmread(pydicom_file("MR_small.dcm"))
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.4.1"
    ds.NumberOfFrames = 1
    content = Dataset()
    content.FrameAcquisitionDateTime = "20040119072731"
    content.FrameReferenceDateTime = "20040119072731"
    content.FrameAcquisitionNumber = 1
    source = Dataset()
    source.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
    source.ReferencedSOPInstanceUID = generate_uid()
    derivation = Dataset()
    derivation.DerivationDescription = "made from the scout of Smith^John"
    derivation.SourceImageSequence = Sequence([source])
    frame = Dataset()
    frame.FrameContentSequence = Sequence([content])
    frame.DerivationImageSequence = Sequence([derivation])
    ds.PerFrameFunctionalGroupsSequence = Sequence([frame])
    measures = Dataset()
    measures.PixelSpacing = ds.PixelSpacing
    measures.SliceThickness = ds.SliceThickness
    shared = Dataset()
    shared.PixelMeasuresSequence = Sequence([measures])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    referenced = Dataset()
    referenced.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
    referenced.ReferencedSOPInstanceUID = source.ReferencedSOPInstanceUID
    ds.ReferencedImageSequence = Sequence([referenced])
    ds.save_as(path, enforce_file_format=True)
    return path
