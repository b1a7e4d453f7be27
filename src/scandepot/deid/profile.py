"""PS3.15 Annex E: the Basic Application Level Confidentiality Profile and its options."""

from __future__ import annotations

from scandepot.deid.model import Script, ScriptError


def load(text: str, pixel_text: str = "") -> Script:
    """The profile with the options named in ``text`` (JSON)."""
    raise ScriptError("The confidentiality profile is not loaded yet.")
