"""Files through the engine: the pixel data copied as stored, bad input named."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

import pytest
from pydicom import dcmread

from scandepot.deid import engine, fast, profile, scripts, verify
from scandepot.deid.model import Keys, Run, ScriptError
from scandepot.errors import Invalid
from scandepot.storage.store import StagedFile

from .conftest import enhanced_mr, heudiconv_files, pydicom_file, read


@pytest.mark.parametrize(
    "path", [heudiconv_files()[0], pydicom_file("JPEG2000.dcm"), pydicom_file("MR_small.dcm")]
)
def test_a_file_matches_the_dataset_way(path: Path, tmp_path: Path) -> None:
    script, run = profile.load('{"options": ["RetainUIDs"]}'), Run(Keys(b"k"))
    out = StagedFile(tmp_path / "out.dcm", hashed=False)
    engine.deidentify_file(script, run, path, out)
    out.end()
    written = dcmread(tmp_path / "out.dcm")
    expected = read(path)
    engine.deidentify(script, run, expected)
    assert written.PixelData == expected.PixelData
    assert written.file_meta.MediaStorageSOPInstanceUID == written.SOPInstanceUID
    written.pop(0x7FE00010), expected.pop(0x7FE00010)
    assert [(e.tag, e.value or None) for e in written] == [
        (e.tag, e.value or None) for e in expected
    ]


def test_not_dicom_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "notes.dcm"
    bad.write_text("not an image")
    out = StagedFile(tmp_path / "out.dcm", hashed=False)
    with pytest.raises(Invalid, match="notes.dcm: not a DICOM file"):
        engine.deidentify_file(profile.load("{}"), Run(Keys(b"k")), bad, out)
    with pytest.raises(Invalid, match="notes.dcm"):
        engine.read(bad)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"options": ["RetainUIDs",]}', "line 1"),
        ('{"options":\n ["RetainUIDs"', "line 2"),
        ('{"options": ["RetainEverything"]}', "'RetainEverything'"),
        ('{"opts": []}', '"options"'),
        ('{"options": "RetainUIDs"}', "a list"),
        (
            '{"options": ["RetainLongitudinalFullDates", "RetainLongitudinalModifiedDates"]}',
            "one of",
        ),
    ],
)
def test_bad_scripts_are_refused(text: str, message: str) -> None:
    with pytest.raises(ScriptError, match=message):
        profile.load(text)


def test_a_pixel_script_blanks_before_the_profile_and_a_bad_one_names_its_line(
    tmp_path: Path,
) -> None:
    # The signature reads Series Description, which the profile then removes.
    text = '{ SeriesDescription.containsIgnoreCase("t1") }\n(0,0,10,5)'
    script = profile.load("{}", text)
    assert script.needs_pixels
    source = tmp_path / "mr.dcm"
    original = read(pydicom_file("MR_small.dcm"))
    original.SeriesDescription = "T1 axial"
    original.save_as(source, enforce_file_format=True)
    out = StagedFile(tmp_path / "out.dcm", hashed=False)
    engine.deidentify_file(script, Run(Keys(b"k")), source, out)
    out.end()
    after, before = dcmread(tmp_path / "out.dcm").pixel_array, original.pixel_array
    assert (after[0:6, 0:11] == 0).all() and (before[0:6, 0:11] != 0).any()
    assert (after[6:, 11:] == before[6:, 11:]).all()
    assert "SeriesDescription" not in dcmread(tmp_path / "out.dcm")
    with pytest.raises(ScriptError, match="pixel script, line 2"):
        profile.load("{}", '{ Modality.equals("MR") }\n(1,2,3)')


@pytest.mark.parametrize(
    "path",
    [*heudiconv_files(), pydicom_file("JPEG2000.dcm"), pydicom_file("CT_small.dcm")],
    ids=lambda p: p.name,
)
@pytest.mark.parametrize(
    "options",
    [
        "[]",
        '["RetainUIDs", "CleanDescriptors"]',
        '["RetainLongitudinalModifiedDates", "RetainPatientCharacteristics"]',
    ],
)
def test_the_bytes_way_writes_what_the_dataset_way_writes(path: Path, options: str) -> None:
    script, run = profile.load(f'{{"options": {options}}}'), Run(Keys(b"k"))
    data = path.read_bytes()
    try:
        done = fast.deidentify(script, run, data)
    except verify.NotDeidentified:
        done = None
    whole = read(path)
    try:
        engine.deidentify(script, run, whole)
    except verify.NotDeidentified:
        assert done is None or not done.report.passed
        return
    assert done is not None and done.report.passed
    expected = BytesIO()
    whole.preamble = None  # written as zeros, as the bytes way does
    whole.save_as(expected, enforce_file_format=True)
    assert b"".join(done.chunks) == expected.getvalue()


def test_the_bytes_way_on_an_enhanced_mr(tmp_path: Path) -> None:
    """Functional group sequences, nested three deep, through the bytes way: the same
    file as the dataset way writes."""
    path = enhanced_mr(tmp_path / "enhanced.dcm")
    script, run = profile.load('{"options": []}'), Run(Keys(b"k"))
    done = fast.deidentify(script, run, path.read_bytes())
    assert done is not None and done.report.passed
    whole = read(path)
    engine.deidentify(script, run, whole)
    expected = BytesIO()
    whole.preamble = None
    whole.save_as(expected, enforce_file_format=True)
    assert b"".join(done.chunks) == expected.getvalue()


def test_the_loader_gives_the_profile_for_its_kind() -> None:
    script = scripts.load("profile", '{"options": ["RetainUIDs"]}')
    assert script.kind == "profile" and len(script.sha256) == 64
    with pytest.raises(ScriptError, match="'Retain'"):
        scripts.load("profile", '{"options": ["Retain"]}')
