"""CTP DicomAnonymizer scripts, read and run natively (docs/deid-ctp.md).

:func:`load` reads a script (and optionally a DicomPixelAnonymizer script) once, refusing
it with the line named if CTP would misread it; the loaded script is then applied to many
datasets, giving the values CTP gives.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from pydicom.dataset import Dataset

from scandepot.deid import pixels
from scandepot.deid.ctp import anonymizer, script
from scandepot.deid.ctp.context import Context, snapshot
from scandepot.deid.model import Run, Script

# File meta elements CTP does not carry over when it writes its own (dcm4che's
# newFileMetaInfo): the AE titles and private information of whoever wrote the file.
DROPPED_META = (0x00020016, 0x00020017, 0x00020018, 0x00020100, 0x00020102)
TRAILING_PADDING = 0xFFFCFFFC  # (FFFC,FFFC): CTP stops reading the file there


@dataclass(frozen=True, slots=True)
class CtpScript:
    parsed: script.Parsed
    sha256: str
    pixel_script: pixels.PixelScript | None = None

    @property
    def kind(self) -> str:
        return "ctp"

    @property
    def kept(self) -> frozenset[int]:
        """Elements the script says what to hold (every enabled rule but ``@remove()``):
        the verification takes what they hold as meant, e.g. a site ID written into a
        private element, or a ``@keep()`` of the script's choosing. Keep groups are not
        in it: an original identifier found in a kept group is still reported."""
        return frozenset(
            tag
            for tag, rule in self.parsed.rules.items()
            if rule.text.replace(" ", "") != "@remove()"
        )

    def apply(self, ds: Dataset, run: Run) -> None:
        """De-identify ``ds`` in place; :class:`Refused` when a rule quarantines or skips
        the instance (the dataset is then partly changed and must be discarded)."""
        meta = getattr(ds, "file_meta", None)
        if "SpecificCharacterSet" not in ds:
            ds.SpecificCharacterSet = "ISO_IR 100"  # CTP's default for both copies
        ctx = Context(
            parsed=self.parsed,
            keys=run.keys,
            run_params=run.params,
            meta=snapshot(meta) if meta is not None else Dataset(),
            in_ds=snapshot(ds),
            out_ds=ds,
        )
        anonymizer.insert_elements(ctx)
        anonymizer.process_elements(ctx)
        if TRAILING_PADDING in ds:
            del ds[TRAILING_PADDING]
        if meta is not None:
            _update_meta(meta, ds)
        if self.pixel_script is not None:
            self.pixel_script.apply(ds)


def _update_meta(meta: Dataset, ds: Dataset) -> None:
    if "SOPClassUID" in ds:
        meta.MediaStorageSOPClassUID = ds.SOPClassUID
    if "SOPInstanceUID" in ds:
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    for tag in DROPPED_META:
        if tag in meta:
            del meta[tag]


def load(text: str, pixel_text: str = "") -> Script:
    """A CTP DicomAnonymizer script (XML), with an optional DicomPixelAnonymizer script
    run after the element rules; :class:`ScriptError` naming the line if malformed."""
    parsed = script.parse(text)
    pixel_script = pixels.load_pixel_script(pixel_text) if pixel_text.strip() else None
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return CtpScript(parsed, digest, pixel_script)
