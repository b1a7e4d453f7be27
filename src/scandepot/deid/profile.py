"""PS3.15 Annex E: the Basic Application Level Confidentiality Profile and its options.

A profile script is JSON naming the options: ``{"options": ["RetainUIDs", ...]}``
(:data:`scandepot.deid.table.OPTIONS`). Each attribute of Table E.1-1 gets its action
(:mod:`scandepot.deid.table`), at every depth of sequences; repeating groups (50xx, 60xx)
and private attributes too. Attributes the table does not list are kept (PS3.15 E.1.1
lists what must go; the rest is the IOD's). See docs/deid-profile.md.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field

from pydicom import Dataset
from pydicom.dataelem import DataElement
from pydicom.sequence import Sequence

from scandepot.deid import actions as act
from scandepot.deid import verify
from scandepot.deid.model import Run, ScriptError
from scandepot.deid.table import OPTIONS, Actions
from scandepot.deid.table import actions as table_actions

PATIENT_ID = 0x00100020
PATIENT_NAME = 0x00100010
PIXEL_DATA = 0x7FE00010
# PS3.16 CID 7050 De-identification Method: the profile's and each option's code.
CID_7050 = {
    "Basic": ("113100", "Basic Application Confidentiality Profile"),
    "CleanGraphics": ("113103", "Clean Graphics Option"),
    "CleanStructuredContent": ("113104", "Clean Structured Content Option"),
    "CleanDescriptors": ("113105", "Clean Descriptors Option"),
    "RetainLongitudinalFullDates": (
        "113106",
        "Retain Longitudinal Temporal Information Full Dates Option",
    ),
    "RetainLongitudinalModifiedDates": (
        "113107",
        "Retain Longitudinal Temporal Information Modified Dates Option",
    ),
    "RetainPatientCharacteristics": ("113108", "Retain Patient Characteristics Option"),
    "RetainDeviceIdentity": ("113109", "Retain Device Identity Option"),
    "RetainUIDs": ("113110", "Retain UIDs Option"),
    "RetainSafePrivate": ("113111", "Retain Safe Private Option"),
    "RetainInstitutionIdentity": ("113112", "Retain Institution Identity Option"),
}


@dataclass(slots=True)
class _Pass:
    """One application: what every element's action needs."""

    run: Run
    table: Actions
    shift: int
    new_patient_id: str
    identifying: tuple[re.Pattern[str], ...]


@dataclass(frozen=True, slots=True)
class Profile:
    options: frozenset[str]
    sha256: str
    kind: str = "profile"
    needs_pixels: bool = False  # the engine may copy the pixel data element as stored
    table: Actions = field(init=False)
    # Tags an option keeps on purpose: not findings for the verification.
    kept: frozenset[int] = field(init=False)

    def __post_init__(self) -> None:
        table = table_actions(self.options)
        object.__setattr__(self, "table", table)
        kept = frozenset(tag for tag, (action, _) in table.by_tag.items() if action == "K")
        object.__setattr__(self, "kept", kept)

    def verify_rules(self) -> verify.Rules:
        return verify.Rules(
            dates_go="RetainLongitudinalFullDates" not in self.options,
            descriptors_go="CleanDescriptors" not in self.options,
        )

    def apply(self, ds: Dataset, run: Run) -> None:
        before = verify.identifiers(ds)
        new_id = act.patient_pseudonym(run.keys, before.patient_id)
        state = _Pass(
            run,
            self.table,
            run.keys.shift_days(before.patient_id),
            new_id,
            act.patterns(before.values | before.dates, before.parts),
        )
        _apply(ds, state)
        self._mark(ds)
        meta = getattr(ds, "file_meta", None)
        if meta is not None and "SOPInstanceUID" in ds:
            meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID

    def _mark(self, ds: Dataset) -> None:
        """(0012,0062..0064) and (0028,0303): PS3.15 E.1.1, PS3.3 C.7.1.1."""
        chosen = ["Basic", *sorted(self.options)]
        ds.PatientIdentityRemoved = "YES"
        ds.DeidentificationMethod = [CID_7050[name][1][:64] for name in chosen]
        items = []
        for name in chosen:
            item = Dataset()
            item.CodeValue, item.CodeMeaning = CID_7050[name]
            item.CodingSchemeDesignator = "DCM"
            items.append(item)
        ds.DeidentificationMethodCodeSequence = Sequence(items)
        if "RetainLongitudinalFullDates" in self.options:
            ds.LongitudinalTemporalInformationModified = "UNMODIFIED"
        elif "RetainLongitudinalModifiedDates" in self.options:
            ds.LongitudinalTemporalInformationModified = "MODIFIED"
        else:
            ds.LongitudinalTemporalInformationModified = "REMOVED"


def _apply(ds: Dataset, state: _Pass) -> None:
    for tag in list(ds.keys()):
        if tag == PIXEL_DATA:
            continue
        found = state.table.of(tag)
        if found is None:
            elem = ds.get_item(tag)
            if elem is not None and act.vr_of(elem) == "SQ":
                _items(ds, tag, state)
            continue
        _one(ds, tag, found, state)


def _items(ds: Dataset, tag: int, state: _Pass) -> None:
    for item in ds[tag].value or ():
        _apply(item, state)


def _one(ds: Dataset, tag: int, found: tuple[str, str | None], state: _Pass) -> None:
    action, option = found
    if action == "K":
        return
    if action == "X":
        del ds[tag]
        return
    raw = ds.get_item(tag)
    assert raw is not None
    vr = act.vr_of(raw)
    if option == "RetainSafePrivate":
        del ds[tag]  # no private attribute is known safe (table.SAFE_PRIVATE)
    elif tag in (PATIENT_ID, PATIENT_NAME) and action in ("Z", "D"):
        _pseudonym(ds, tag, state)
    elif vr == "SQ":
        _sequence(ds, tag, action, state)
    elif action == "Z":
        ds[tag] = DataElement(tag, vr, None)
    elif action == "D":
        ds[tag] = DataElement(tag, vr, _dummy_or_uid(ds, tag, vr, state))
    elif action == "U":
        _uids(ds, tag, vr, state)
    elif action in ("C", "R"):
        _clean(ds, tag, vr, option, state)


def _sequence(ds: Dataset, tag: int, action: str, state: _Pass) -> None:
    if action == "Z":
        ds[tag] = DataElement(tag, "SQ", Sequence())
    else:  # D, C, R, U: the sequence stays, the table applies to its items
        _items(ds, tag, state)


def _pseudonym(ds: Dataset, tag: int, state: _Pass) -> None:
    if tag == PATIENT_ID:
        value = state.new_patient_id
    else:
        original = verify._text(ds[tag])
        value = act.name_pseudonym(state.run.keys, original, state.new_patient_id)
    ds[tag] = DataElement(tag, "LO" if tag == PATIENT_ID else "PN", value)


def _dummy_or_uid(ds: Dataset, tag: int, vr: str, state: _Pass) -> object:
    if vr == "UI":
        value = ds[tag].value
        return state.run.keys.uid(str(value)) if value else "2.25.0"
    return act.dummy(vr)


def _uids(ds: Dataset, tag: int, vr: str, state: _Pass) -> None:
    value = ds[tag].value
    if not value:
        return
    keys = state.run.keys
    if isinstance(value, str):
        ds[tag] = DataElement(tag, vr, keys.uid(value))
    else:
        ds[tag] = DataElement(tag, vr, [keys.uid(str(v)) for v in value])


def _clean(ds: Dataset, tag: int, vr: str, option: str | None, state: _Pass) -> None:
    """C: dates shifted (Modified Dates; TM kept), free text cleaned of the identifying
    values, anything else (overlay bitmaps, curves, binary) removed: fail safe."""
    if vr in ("DA", "DT"):
        ds[tag] = DataElement(tag, vr, act.shift_dates(ds[tag].value, state.shift, vr))
    elif vr == "TM":
        return
    elif vr in act.TEXT:
        value = ds[tag].value
        if isinstance(value, str):
            ds[tag] = DataElement(tag, vr, act.clean_text(value, state.identifying))
        elif value:
            cleaned = [act.clean_text(str(v), state.identifying) for v in value]
            ds[tag] = DataElement(tag, vr, cleaned)
    else:
        del ds[tag]


def load(text: str, pixel_text: str = "") -> Profile:
    """The profile with the options named in ``text`` (JSON); :class:`ScriptError` names
    what is wrong."""
    if pixel_text.strip():
        raise ScriptError(
            "A pixel script with the confidentiality profile is not supported yet.",
            source="pixel script",
        )
    try:
        parsed = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as exc:
        raise ScriptError(f"not JSON: {exc.msg}", line=exc.lineno) from exc
    if not isinstance(parsed, dict) or set(parsed) - {"options"}:
        raise ScriptError('expected {"options": [...]}, an object with one key "options"')
    options = parsed.get("options", [])
    if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
        raise ScriptError('"options" must be a list of option names')
    unknown = sorted(set(options) - OPTIONS)
    if unknown:
        raise ScriptError(
            f"unknown option {unknown[0]!r}; the options are: {', '.join(sorted(OPTIONS))}"
        )
    both = {"RetainLongitudinalFullDates", "RetainLongitudinalModifiedDates"}
    if both <= set(options):
        raise ScriptError("choose one of RetainLongitudinalFullDates and ...ModifiedDates")
    return Profile(frozenset(options), hashlib.sha256(text.encode()).hexdigest())
