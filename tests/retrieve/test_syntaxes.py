"""What can be sent in which transfer syntax, and what the Accept header asks."""

from __future__ import annotations

import pytest
from pydicom import uid

from scandepot.errors import BadRequest, NotAcceptable
from scandepot.retrieve import accept, rendered, syntaxes, wado


@pytest.mark.parametrize(
    ("stored", "wanted", "can"),
    [
        (uid.ExplicitVRLittleEndian, uid.ImplicitVRLittleEndian, True),
        (uid.ExplicitVRLittleEndian, uid.RLELossless, True),
        (uid.ExplicitVRLittleEndian, uid.JPEGLSLossless, False),  # no encoder installed
        (uid.RLELossless, uid.ExplicitVRLittleEndian, True),
        (uid.JPEGBaseline8Bit, uid.ExplicitVRLittleEndian, True),
        (uid.JPEGBaseline8Bit, uid.RLELossless, False),  # lossy never becomes lossless
        (uid.JPEG2000Lossless, uid.RLELossless, True),
        (uid.JPEGLSLossless, uid.ExplicitVRLittleEndian, False),  # no decoder installed
        (uid.JPEGLSLossless, "*", True),
    ],
)
def test_can_send(stored: str, wanted: str, can: bool) -> None:
    assert syntaxes.can_send(stored, wanted) is can


def test_accept_header_parsing() -> None:
    ranges = accept.parse(
        'image/png;q=0.5, multipart/related; type="application/dicom"; '
        "transfer-syntax=1.2.840.10008.1.2.1, */*;q=0"
    )
    assert [(r.media_type, r.part_type, r.transfer_syntax) for r in ranges] == [
        ("multipart/related", "application/dicom", "1.2.840.10008.1.2.1"),
        ("image/png", None, None),
    ]
    assert wado.dicom_syntaxes(ranges) == ["1.2.840.10008.1.2.1"]
    assert wado.dicom_syntaxes(accept.parse(None)) == ["*"]
    with pytest.raises(NotAcceptable):
        wado.dicom_syntaxes(accept.parse("application/dicom+json"))
    for broken in ("text", "image/png; q", "image/png;q=x"):
        with pytest.raises(BadRequest):
            accept.parse(broken)
    assert rendered.media_type("image/*") == rendered.JPEG
    assert rendered.media_type("image/png, image/jpeg;q=0.1") == rendered.PNG


def test_window_functions() -> None:
    import numpy as np

    values = np.array([0.0, 99.5, 100.0, 150.0, 300.0])
    linear = rendered.windowed(values, rendered.Window(100, 100, "linear"))
    assert linear[0] == 0 and linear[-1] == 255 and 0 < linear[2] < 255
    exact = rendered.windowed(values, rendered.Window(100, 100, "linear_exact"))
    assert exact[2] == 127.5 and exact[3] == 255
    sigmoid = rendered.windowed(values, rendered.Window(100, 100, "sigmoid"))
    assert sigmoid[2] == 127.5 and 0 < sigmoid[0] < sigmoid[1] < sigmoid[2]
    assert rendered.parse_window("40,400,LINEAR-EXACT") == rendered.Window(40, 400, "linear_exact")
