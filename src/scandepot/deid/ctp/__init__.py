"""CTP DicomAnonymizer scripts, read and run natively."""

from __future__ import annotations

from scandepot.deid.model import Script, ScriptError


def load(text: str, pixel_text: str = "") -> Script:
    """A CTP DicomAnonymizer script (XML), with an optional DicomPixelAnonymizer script."""
    raise ScriptError("CTP scripts are not loaded yet.")
