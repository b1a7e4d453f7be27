"""Pixel data: the burned-in annotation check and CTP DicomPixelAnonymizer rules on real
files, uncompressed and compressed."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from numpy.typing import NDArray
from pydicom.dataset import Dataset
from pydicom.pixels.decoders.base import get_decoder
from pydicom.uid import UID, ExplicitVRLittleEndian, RLELossless

from scandepot.deid import pixels
from scandepot.deid.model import Refused, ScriptError
from tests.deid.ctp_data import run, xml
from tests.pipelines.dicom import pydicom_file


def read(name: str) -> Dataset:
    return pydicom.dcmread(pydicom_file(name))


def decoded(ds: Dataset) -> NDArray[np.generic]:
    ds.pixel_array_options(as_rgb=False)
    return np.array(ds.pixel_array)


# --- burned-in annotation


def test_burned_in_yes_refuses_any_modality() -> None:
    ds = read("CT_small.dcm")
    assert pixels.burned_in(ds) is None
    ds.BurnedInAnnotation = "YES"
    assert pixels.burned_in(ds) == "Burned In Annotation (0028,0301) is YES"


def test_ultrasound_and_secondary_capture_refused_unless_they_say_no() -> None:
    us = read("examples_rgb_color.dcm")
    reason = pixels.burned_in(us)
    assert reason is not None and "modality US" in reason
    us.BurnedInAnnotation = "NO"
    assert pixels.burned_in(us) is None
    sc = read("SC_rgb_jpeg_dcmtk.dcm")  # modality OT, SOP class Secondary Capture
    assert pixels.burned_in(sc) is not None
    del sc.Modality
    reason = pixels.burned_in(sc)
    assert reason is not None and "Secondary Capture Image" in reason


def test_mr_passes() -> None:
    assert pixels.burned_in(read("MR_small.dcm")) is None


# --- pixel scripts

PIXEL_SCRIPT = """Burned-in text on small CTs
  { Modality.equals("CT") * Rows.equals("128") }  // comments run to the end of the line
  (10,20,5,3)
  (-4,-2,100,100)
Never
  { Modality.equals("XX") }
  (0,0,128,128)
"""


def _expected_blank(shape: tuple[int, int]) -> NDArray[np.bool_]:
    mask = np.zeros(shape, dtype=bool)
    mask[20:24, 10:16] = True  # x 10..15 and y 20..23: CTP includes both ends
    mask[126:, 124:] = True  # 4 from the right, 2 from the bottom, clipped
    return mask


def test_uncompressed_blanked_exactly_in_the_rectangles() -> None:
    before = decoded(read("CT_small.dcm"))
    ds = run(xml({"00100020": "@keep()"}), read("CT_small.dcm"), pixel_text=PIXEL_SCRIPT)
    after = decoded(ds)
    mask = _expected_blank(before.shape)
    assert (after[mask] == 0).all()
    assert (before[mask] != 0).any()  # the test blanks something that was not black
    assert np.array_equal(after[~mask], before[~mask])
    assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert ds.SOPInstanceUID == read("CT_small.dcm").SOPInstanceUID


def test_signature_not_matching_leaves_pixels() -> None:
    ds = run(xml(), read("MR_small.dcm"), pixel_text=PIXEL_SCRIPT)
    assert ds.PixelData == read("MR_small.dcm").PixelData


def test_rle_decoded_blanked_in_every_frame_and_reencoded() -> None:
    before = decoded(read("SC_rgb_rle_2frame.dcm"))
    text = '{ Modality.equals("OT") }\n(0,0,9,4)'
    ds = run(xml(), read("SC_rgb_rle_2frame.dcm"), pixel_text=text)
    assert ds.file_meta.TransferSyntaxUID == RLELossless
    after = decoded(ds)
    assert after.shape == before.shape == (2, 100, 100, 3)
    for frame in range(2):
        assert (after[frame, 0:5, 0:10] == 0).all()
        assert (before[frame, 0:5, 0:10] != 0).any()
        outside = np.ones((100, 100), dtype=bool)
        outside[0:5, 0:10] = False
        assert np.array_equal(after[frame][outside], before[frame][outside])


def test_jpeg_decoded_where_a_codec_is_installed_or_refused_naming_the_syntax() -> None:
    for name in ("SC_rgb_jpeg_dcmtk.dcm", "MR_small_jpeg_ls_lossless.dcm"):
        syntax = UID(read(name).file_meta.TransferSyntaxUID)
        text = '{ Rows.isGreaterThan("10") }\n(0,0,7,7)'
        if get_decoder(syntax).is_available:
            ds = run(xml(), read(name), pixel_text=text)
            after = decoded(ds)
            assert ds.file_meta.TransferSyntaxUID != syntax or syntax.is_lossless
            corner = after[0:8, 0:8]
            black = (0, 128, 128) if after.ndim == 3 else 0
            assert (corner == black).all()
        else:
            with pytest.raises(Refused) as caught:
                run(xml(), read(name), pixel_text=text)
            assert syntax.name in str(caught.value)
            assert str(syntax) in str(caught.value)
            assert name in str(caught.value)


def test_no_codec_for_jpeg_ls_here() -> None:
    """This environment has no JPEG-LS plug-in: the refusal is what runs."""
    syntax = UID(read("MR_small_jpeg_ls_lossless.dcm").file_meta.TransferSyntaxUID)
    assert not get_decoder(syntax).is_available
    with pytest.raises(Refused, match="JPEG-LS Lossless"):
        run(xml(), read("MR_small_jpeg_ls_lossless.dcm"), pixel_text="{ true }\n(0,0,1,1)")


BAD_PIXEL = [
    ('{ Modality.equals("CT") }\n(1,2,3)', 2, "bad rectangle"),
    ('x\n{ Modality.equalz("CT") }\n(1,2,3,4)', 2, "unknown method 'equalz'"),
    ('{ Modality.equals("CT") *\n  (Rows.equals("1") }\n(1,2,3,4)', 2, "unbalanced parentheses"),
    ('{ Modality.equals("CT") }\n(1,2,3,4)\n{ Rows.equals("1")\n(1,2,3,4)', 3, "unbalanced braces"),
    ('{ Modalty.equals("CT") }\n(1,2,3,4)', 1, "unknown element 'Modalty'"),
]


@pytest.mark.parametrize(("text", "line", "message"), BAD_PIXEL)
def test_malformed_pixel_scripts_refused_naming_the_line(
    text: str, line: int, message: str
) -> None:
    with pytest.raises(ScriptError, match=message) as caught:
        pixels.load_pixel_script(text)
    assert caught.value.line == line
    assert f"pixel script, line {line}" in str(caught.value)


def test_ctps_own_library_loads() -> None:
    """Signature syntax of CTP's burned-in annotation library, written here."""
    text = """GE
  { BurnedInAnnotation.containsIgnoreCase("YES") *
    Manufacturer.containsIgnoreCase("GE MEDICAL") *
    [0028,0010].equals("512") }
  (0,0,512,25)
  { !ImageType.contains("ORIGINAL") + SeriesDescription.startsWithIgnoreCase("dose") }
   (350,0,162,30) (390,80,122,15)
"""
    script = pixels.load_pixel_script(text)
    assert [s.regions for s in script.signatures] == [
        ((0, 0, 512, 25),),
        ((350, 0, 162, 30), (390, 80, 122, 15)),
    ]
    ds = read("CT_small.dcm")
    ds.SeriesDescription = "Dose Report"
    assert script.matching(ds) is script.signatures[1]
