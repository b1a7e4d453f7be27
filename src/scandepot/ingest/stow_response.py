"""The answer to a STOW-RS request: the Store Instances Response Module (PS3.18 Annex I)
in the DICOM JSON model (PS3.18 Annex F), and its HTTP status (PS3.18 Table 10.5.3-1).

Every instance of the request is in one of two sequences: Referenced SOP Sequence
(stored, with its Retrieve URL, and a Warning Reason when it was stored with a warning)
or Failed SOP Sequence (with its Failure Reason). Each item also carries the reason in
words, in a private attribute of scandepot's own block: (0009,0010) "scandepot",
(0009,1001) LT. docs/dicomweb.md lists the codes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MEDIA_TYPE = "application/dicom+json"

# Failure Reason (0008,1197): PS3.18 Table I.2-2, PS3.7 C.4, and codes of our own in the
# ranges PS3.18 gives them.
PROCESSING_FAILURE = 0x0110
SOP_CLASS_NOT_SUPPORTED = 0x0122
NOT_AUTHORIZED = 0x0124
OUT_OF_RESOURCES = 0xA700
TOO_LARGE = 0xA701
DOES_NOT_MATCH = 0xA900  # a required UID missing, or not a UID
STUDY_MISMATCH = 0xA901  # not of the study the path names
CANNOT_UNDERSTAND = 0xC000  # not a DICOM instance, or a part of another media type
# Warning Reason (0008,1196): stored, but beside an instance of the same UID and other
# bytes held already (kept for review; the project's conflict rules decide on archiving).
KEPT_ASIDE = 0xB00E

PRIVATE_CREATOR = "scandepot"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one part."""

    sop_class: str  # "" when the part did not say (not DICOM)
    sop_instance: str
    study: str = ""
    failure: int | None = None
    warning: int | None = None
    reason: str = ""  # in words
    url: str = ""  # where to retrieve it; "" while it cannot be (in the prearchive)

    @property
    def stored(self) -> bool:
        return self.failure is None


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: dict[str, Any]


def _uid(value: str) -> dict[str, Any]:
    return {"vr": "UI", "Value": [value]} if value else {"vr": "UI"}


def _item(outcome: Outcome) -> dict[str, Any]:
    item: dict[str, Any] = {
        "00081150": _uid(outcome.sop_class),
        "00081155": _uid(outcome.sop_instance),
    }
    if outcome.failure is not None:
        item["00081197"] = {"vr": "US", "Value": [outcome.failure]}
    else:
        item["00081190"] = {"vr": "UR", "Value": [outcome.url]} if outcome.url else {"vr": "UR"}
        if outcome.warning is not None:
            item["00081196"] = {"vr": "US", "Value": [outcome.warning]}
    if outcome.reason:
        item["00090010"] = {"vr": "LO", "Value": [PRIVATE_CREATOR]}
        item["00091001"] = {"vr": "LT", "Value": [outcome.reason]}
    return item


def answer(outcomes: list[Outcome], root_url: str) -> Answer:
    """The response: 200 when every instance was stored without a warning, 202 when some
    were stored and others failed or were stored with a warning, 409 when none was."""
    stored = [o for o in outcomes if o.stored]
    failed = [o for o in outcomes if not o.stored]
    body: dict[str, Any] = {"00081190": {"vr": "UR"}}
    studies = {o.study for o in stored}
    if len(studies) == 1 and any(o.url for o in stored):
        body["00081190"] = {"vr": "UR", "Value": [f"{root_url}/studies/{studies.pop()}"]}
    if failed:
        body["00081198"] = {"vr": "SQ", "Value": [_item(o) for o in failed]}
    if stored:
        body["00081199"] = {"vr": "SQ", "Value": [_item(o) for o in stored]}
    if not stored:
        status = 409
    elif failed or any(o.warning is not None for o in stored):
        status = 202
    else:
        status = 200
    return Answer(status, body)
