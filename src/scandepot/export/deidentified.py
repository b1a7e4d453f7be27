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
caller allows it, when it may carry burned-in annotation (see :func:`burned_in`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from io import BytesIO

from pydicom import Dataset, dcmread
from pydicom.errors import InvalidDicomError
from sqlalchemy.orm import Session as DBSession

from scandepot.catalog.deid import Purpose
from scandepot.deid import engine, in_force, verify
from scandepot.deid.in_force import InForce
from scandepot.deid.model import Keys, Refused, Run
from scandepot.dicom import uids
from scandepot.errors import Conflict

log = logging.getLogger("scandepot.export")

# PS3.3 C.7.6.1.1.2: Modality values whose images commonly carry burned-in text.
# US: ultrasound; SC and OT: secondary captures and screenshots; XC, ES, GM: photographs
# and endoscopy with on-screen captions.
BURNED_IN_MODALITIES = frozenset({"US", "SC", "OT", "XC", "ES", "GM"})
# PS3.4 B.5: the Secondary Capture Image Storage SOP classes (1.2.840.10008.5.1.4.1.1.7[.n]).
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"


def burned_in(ds: Dataset) -> str | None:
    """Why ``ds`` may show identifying text in its pixels, or None: it declares Burned In
    Annotation (0028,0301) YES, or is of a modality or SOP class where such text is
    common (issue 20). Read on the stored instance, before the script runs, so that a
    script which removes the attribute cannot hide it."""
    declared = str(ds.get("BurnedInAnnotation", "")).strip().upper()
    if declared == "YES":
        return "it declares Burned In Annotation (0028,0301) YES"
    modality = str(ds.get("Modality", "")).strip().upper()
    if modality in BURNED_IN_MODALITIES:
        return f"its modality {modality} commonly has text burned into the pixels"
    sop_class = str(ds.get("SOPClassUID", "") or ds.file_meta.get("MediaStorageSOPClassUID", ""))
    if sop_class == SECONDARY_CAPTURE or sop_class.startswith(SECONDARY_CAPTURE + "."):
        return "it is a secondary capture, where text is commonly burned into the pixels"
    return None


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
        if not self.allow_burned_in:
            reason = burned_in(ds)
            if reason is not None:
                raise InstanceRefused(
                    Refusal("burned_in", f"Refused: {reason} (allow_burned_in lets it out).")
                )
        params = {"PROJECT": self.project}
        params.update({k: v for k, v in (("SUBJECT", subject), ("SESSION", session)) if v})
        try:
            engine.deidentify(self.in_force.script, Run(self.keys, params), ds)
        except verify.NotDeidentified as exc:
            # Named by where and why, never by the value found (it identifies someone).
            found = "; ".join(f"{f.path} {f.keyword}: {f.reason}" for f in exc.report.findings)
            why = Refusal("not_deidentified", f"Not de-identified: {found}")
            raise InstanceRefused(why) from None
        except Refused as exc:
            why = Refusal("refused", f"Refused by the script: {exc.message}")
            raise InstanceRefused(why) from None
        sop = str(ds.get("SOPInstanceUID", "")).strip()
        if not uids.is_valid(sop):
            raise InstanceRefused(
                Refusal("refused", "No valid SOP Instance UID after de-identification.")
            )
        out = BytesIO()
        ds.save_as(out, enforce_file_format=True)
        return Deidentified(ds, out.getvalue(), sop)


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
