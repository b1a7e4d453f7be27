"""Loading a script by its kind (catalog.deid.ScriptKind): the one entry every use goes
through, so that a script is refused the same way in the editor, the API and the CLI."""

from __future__ import annotations

from scandepot.deid.model import Script, ScriptError


def load(kind: str, text: str, pixel_text: str = "") -> Script:
    """A loaded script; :class:`ScriptError` naming the line if ``text`` is malformed."""
    raise ScriptError(f"Unknown script kind '{kind}'.")
