"""A project's export script, ready to run on stored instances on their way out.

Downloads (:mod:`scandepot.export.deid_download`) and transfers
(:mod:`scandepot.transfers.deidentified`) both go through :class:`Deidentifier`, so that
they run the same script version with the same keys, refuse the same instances for the
same reasons, and never change the stored file: each instance is read into memory,
de-identified there (:func:`scandepot.deid.engine.deidentify`: the script, then the
verification) and written out as new bytes.

An instance is refused (:class:`Refusal`) when the script refuses it
(:class:`~scandepot.deid.model.Refused`), when the verification finds something left
(:class:`~scandepot.deid.verify.NotDeidentified`), when it is not DICOM, or, unless the
caller allows it, when it may carry burned-in annotation
(:func:`scandepot.deid.pixels.burned_in`) that no pixel rule of the script blanked.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from io import BytesIO

from pydicom import Dataset, dcmread
from pydicom.errors import InvalidDicomError
from sqlalchemy.orm import Session as DBSession

from scandepot.catalog.deid import Purpose
from scandepot.deid import engine, in_force, pixels, verify
from scandepot.deid.in_force import InForce
from scandepot.deid.model import Keys, Refused, Run
from scandepot.dicom import uids
from scandepot.errors import Conflict

log = logging.getLogger("scandepot.export")
# The value a finding quotes ("holds an original identifying value ('Smith^John')"): left
# out of what is reported, since the report travels with the data.
_VALUE = re.compile(r"\s*\(.*\)\s*$")


def cleaned_by(script: object, ds: Dataset) -> bool:
    """Whether the script's pixel rules (a CTP DicomPixelAnonymizer script) blanked
    regions of ``ds``: a signature matched it, with rectangles (deid.pixels)."""
    pixel_script = getattr(script, "pixel_script", None)
    if not isinstance(pixel_script, pixels.PixelScript):
        return False
    signature = pixel_script.matching(ds)
    return signature is not None and bool(signature.regions)


@dataclass(frozen=True, slots=True)
class Refusal:
    """An instance left out, and why. ``code``: refused (by the script), not_deidentified
    (the verification found something), burned_in, not_dicom."""

    code: str
    message: str


class InstanceRefused(Exception):
    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.message)
        self.refusal = refusal


@dataclass(frozen=True, slots=True)
class Deidentified:
    dataset: Dataset
    data: bytes  # the de-identified file (PS3.10), as it is sent or written
    SOPInstanceUID: str  # (0008,0018) after the script: names the file


@dataclass(frozen=True, slots=True)
class Deidentifier:
    """The export script in force in ``project`` and its keys."""

    project: str
    in_force: InForce
    keys: Keys
    allow_burned_in: bool = False

    @property
    def script_label(self) -> str:
        return self.in_force.label  # "export v2 sha256:1a2b3c4d5e6f"

    def run(self, raw: bytes, *, subject: str | None, session: str | None) -> Deidentified:
        """``raw`` (a stored file's bytes) de-identified; :class:`InstanceRefused` when it
        is not let out."""
        ds = _read(raw)
        script = self.in_force.script
        # Asked of the stored instance, before the script runs: a script that removes
        # (0028,0301) or the modality must not hide it.
        burned = None if self.allow_burned_in else pixels.burned_in(ds)
        if burned is not None and getattr(script, "pixel_script", None) is None:
            raise InstanceRefused(_burned(burned))
        params = {"PROJECT": self.project}
        params.update({k: v for k, v in (("SUBJECT", subject), ("SESSION", session)) if v})
        try:
            engine.deidentify(script, Run(self.keys, params), ds)
        except verify.NotDeidentified as exc:
            # Named by where and why, never by the value found (it identifies someone).
            found = "; ".join(
                f"{f.path} {f.keyword}: {_VALUE.sub('', f.reason)}" for f in exc.report.findings
            )
            why = Refusal("not_deidentified", f"Not de-identified: {found}")
            raise InstanceRefused(why) from None
        except Refused as exc:
            why = Refusal("refused", f"Refused by the script: {exc.message}")
            raise InstanceRefused(why) from None
        if burned is not None and not cleaned_by(script, ds):
            raise InstanceRefused(_burned(burned))
        sop = str(ds.get("SOPInstanceUID", "")).strip()
        if not uids.is_valid(sop):
            raise InstanceRefused(
                Refusal("refused", "No valid SOP Instance UID after de-identification.")
            )
        out = BytesIO()
        ds.save_as(out, enforce_file_format=True)
        return Deidentified(ds, out.getvalue(), sop)


def _burned(reason: str) -> Refusal:
    return Refusal(
        "burned_in",
        f"Refused: {reason}, and no pixel rule of the script blanked it "
        "(allow_burned_in lets it out).",
    )


def _read(raw: bytes) -> Dataset:
    try:
        return dcmread(BytesIO(raw), force=False)
    except (InvalidDicomError, EOFError, ValueError, OSError) as exc:
        raise InstanceRefused(Refusal("not_dicom", f"Not a DICOM file: {exc}")) from None


def load(
    db: DBSession, project_id: int, project: str, *, allow_burned_in: bool = False
) -> Deidentifier:
    """The project's export script and keys (the keys are made at first use: call in a
    write transaction); :class:`Conflict` when the project has none in force."""
    found = in_force.script_in_force(db, project_id, Purpose.EXPORT)
    if found is None:
        raise Conflict(
            f"Project '{project}' has no export de-identification script in force, so "
            "nothing can leave it de-identified; an owner saves one (purpose export) in "
            "the project's Manage tab.",
            field="deid",
        )
    keys = in_force.keys_of(db, project_id, create=True)
    return Deidentifier(project, found, keys, allow_burned_in)
