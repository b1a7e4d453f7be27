"""Files through the engine: the pixel data copied as stored, bad input named."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom import dcmread

from scandepot.deid import engine, profile
from scandepot.deid.model import Keys, Run, ScriptError
from scandepot.errors import Invalid
from scandepot.storage.store import StagedFile

from .conftest import heudiconv_files, pydicom_file, read


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


def test_a_pixel_script_is_refused_clearly() -> None:
    with pytest.raises(ScriptError, match="pixel script"):
        profile.load("{}", "pixel rules")
