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

from pydicom import Dataset, config
from pydicom.dataelem import DataElement
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag

from scandepot.deid import actions as act
from scandepot.deid import pixels, verify
from scandepot.deid.model import Run, ScriptError
from scandepot.deid.pixels import PixelScript
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
    # A DicomPixelAnonymizer script (deid/pixels.py), run before the element actions so
    # that its signatures see the attributes as they came (as CTP's pipelines order it).
    pixel_script: PixelScript | None = None
    kind: str = "profile"
    table: Actions = field(init=False)
    # Tags an option keeps on purpose: not findings for the verification.
    kept: frozenset[int] = field(init=False)

    def __post_init__(self) -> None:
        table = table_actions(self.options)
        object.__setattr__(self, "table", table)
        kept = frozenset(tag for tag, (action, _) in table.by_tag.items() if action == "K")
        object.__setattr__(self, "kept", kept)

    @property
    def needs_pixels(self) -> bool:
        """False: the engine may copy the pixel data element as stored."""
        return self.pixel_script is not None

    def verify_rules(self) -> verify.Rules:
        return verify.Rules(
            dates_go="RetainLongitudinalFullDates" not in self.options,
            descriptors_go="CleanDescriptors" not in self.options,
        )

    def apply(self, ds: Dataset, run: Run, *, before: verify.Identifiers | None = None) -> None:
        """The profile on ``ds``; ``before``: its identifiers, when already taken."""
        before = before if before is not None else verify.identifiers(ds)
        if self.pixel_script is not None:
            self.pixel_script.apply(ds)  # Refused when it cannot decode the pixels
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
        _set(ds, 0x00120062, "CS", "YES")  # Patient Identity Removed
        _set(ds, 0x00120063, "LO", [CID_7050[name][1][:64] for name in chosen])
        items = []
        for name in chosen:
            item = Dataset()
            _set(item, 0x00080100, "SH", CID_7050[name][0])  # Code Value
            _set(item, 0x00080102, "SH", "DCM")  # Coding Scheme Designator
            _set(item, 0x00080104, "LO", CID_7050[name][1])  # Code Meaning
            items.append(item)
        _set(ds, 0x00120064, "SQ", Sequence(items))  # De-identification Method Code Seq.
        if "RetainLongitudinalFullDates" in self.options:
            temporal = "UNMODIFIED"
        elif "RetainLongitudinalModifiedDates" in self.options:
            temporal = "MODIFIED"
        else:
            temporal = "REMOVED"
        _set(ds, 0x00280303, "CS", temporal)  # Longitudinal Temporal Information Modified


def _set(ds: Dataset, tag: int, vr: str, value: object) -> None:
    """A value the profile made, of a public attribute: valid by construction, so neither
    validated again nor put through ``Dataset.__setitem__`` (private blocks, pixel
    caches: none of its business here), which costs more than the rest of the profile."""
    ds._dict[BaseTag(tag)] = DataElement(tag, vr, value, validation_mode=config.IGNORE)


def _apply(ds: Dataset, state: _Pass) -> None:
    for tag in [int(tag) for tag in ds.keys()]:  # plain ints: BaseTag compares slowly
        if tag == PIXEL_DATA:
            continue
        if not tag & 0xFFFF:  # a group length (retired): wrong once elements go
            del ds[tag]
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
        _set(ds, tag, vr, None)
    elif action == "D":
        _set(ds, tag, vr, _dummy_or_uid(ds, tag, vr, state))
    elif action == "U":
        _uids(ds, tag, vr, state)
    elif action in ("C", "R"):
        _clean(ds, tag, vr, option, state)


def _sequence(ds: Dataset, tag: int, action: str, state: _Pass) -> None:
    if action == "Z":
        _set(ds, tag, "SQ", Sequence())
    else:  # D, C, R, U: the sequence stays, the table applies to its items
        _items(ds, tag, state)


def _pseudonym(ds: Dataset, tag: int, state: _Pass) -> None:
    if tag == PATIENT_ID:
        value = state.new_patient_id
    else:
        original = verify._text(ds[tag])
        value = act.name_pseudonym(state.run.keys, original, state.new_patient_id)
    _set(ds, tag, "LO" if tag == PATIENT_ID else "PN", value)


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
        _set(ds, tag, vr, keys.uid(value))
    else:
        _set(ds, tag, vr, [keys.uid(str(v)) for v in value])


def _clean(ds: Dataset, tag: int, vr: str, option: str | None, state: _Pass) -> None:
    """C: dates shifted (Modified Dates; TM kept), free text cleaned of the identifying
    values, anything else (overlay bitmaps, curves, binary) removed: fail safe."""
    if vr in ("DA", "DT"):
        _set(ds, tag, vr, act.shift_dates(ds[tag].value, state.shift, vr))
    elif vr == "TM":
        return
    elif vr in act.TEXT:
        value = ds[tag].value
        if isinstance(value, str):
            _set(ds, tag, vr, act.clean_text(value, state.identifying))
        elif value:
            cleaned = [act.clean_text(str(v), state.identifying) for v in value]
            _set(ds, tag, vr, cleaned)
    else:
        del ds[tag]


def load(text: str, pixel_text: str = "") -> Profile:
    """The profile with the options named in ``text`` (JSON); :class:`ScriptError` names
    what is wrong."""
    pixel_script = pixels.load_pixel_script(pixel_text) if pixel_text.strip() else None
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
    return Profile(frozenset(options), hashlib.sha256(text.encode()).hexdigest(), pixel_script)
