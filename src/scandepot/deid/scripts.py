"""Loading a script by its kind (catalog.deid.ScriptKind): the one entry every use goes
through, so that a script is refused the same way in the editor, the API and the CLI."""

from __future__ import annotations

from scandepot.catalog.deid import ScriptKind
from scandepot.deid import ctp, profile
from scandepot.deid.model import Script, ScriptError


def load(kind: str, text: str, pixel_text: str = "") -> Script:
    """A loaded script; :class:`ScriptError` naming the line if ``text`` is malformed.
    ``pixel_text`` is a CTP DicomPixelAnonymizer script run after the element rules."""
    if kind == ScriptKind.PROFILE:
        return profile.load(text, pixel_text)
    if kind == ScriptKind.CTP:
        return ctp.load(text, pixel_text)
    raise ScriptError(f"Unknown script kind '{kind}': 'profile' or 'ctp'.")
