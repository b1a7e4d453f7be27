"""Running a CTP script over a dataset as CTP's DICOMAnonymizer does.

Two steps (DICOMAnonymizer.anonymize): first, elements the script names but the dataset
lacks are created when their rule starts with @always(); then every element of the input
is visited once, in tag order:

- removed if it is private, has no rule and is not kept, under ``<r t="privategroups">``;
- removed if it has no rule and is not kept, under ``<r t="unspecifiedelements">``;
- removed if it is an overlay (60xx) under ``<r t="overlays">``;
- otherwise its rule runs: a result holding "@remove()" removes it, "@keep()" keeps it,
  "@blank(n)" writes n spaces, "@empty()" empties it, anything else is its new value.

"Kept" is: a group named by a ``<k>`` rule, SOP Class and Instance UIDs, the Study
Instance UID, groups 0002, 0028 and 7FE0, and overlays and curves unless they are to be
removed. Sequences are entered only where a rule says @process(): their items then go
through the same rules. A value the element cannot hold (a date that is not YYYYMMDD, a
time that is not HHMM[SS]) is not written, and the element stays as it was (dcm4che
refuses it; CTP logs a warning).
"""

from __future__ import annotations

import re

from pydicom import config
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from scandepot.deid.ctp import calls
from scandepot.deid.ctp.context import Context, Quarantine, snapshot
from scandepot.deid.ctp.expressions import VERBATIM, Call, Node, Stop
from scandepot.deid.ctp.functions import java_split, java_trim
from scandepot.deid.ctp.script import METHOD_CODES, Rule

ALWAYS_KEPT = frozenset({0x00080016, 0x00080018, 0x0020000D})  # SOP Class/Instance, Study UIDs
KEPT_GROUPS = frozenset({0x0002, 0x0028, 0x7FE0})
# CTP's names for the PS3.16 CID 7050 de-identification method codes.
CODE_MEANINGS = {
    "113100": "Basic Application Confidentiality Profile",
    "113101": "Clean Pixel Data Option",
    "113102": "Clean Recognizable Visual Features Option",
    "113103": "Clean Graphics Option",
    "113104": "Clean Structured Content Option",
    "113105": "Clean Descriptors Option",
    "113106": "Retain Longitudinal Temporal Information Full Dates Option",
    "113107": "Retain Longitudinal Temporal Information Modified Dates Option",
    "113108": "Retain Patient Characteristics Option",
    "113109": "Retain Device Identity Option",
    "113110": "Retain UIDs",
    "113111": "Retain Safe Private Option",
    "113112": "Retain Institution Identity Option",
}
# What dcm4che 1.4 accepts for dates and times; anything else it refuses.
VALID = {
    "DA": re.compile(r"\d{8}|\d{4}\.\d{2}\.\d{2}"),
    "TM": re.compile(r"\d{2}:?\d{2}(:?\d{2}(\.\d{1,6})?)?"),
    "DT": re.compile(r"\d{8}(\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?)?([+-]\d{4})?"),
}
INTEGER_VRS = frozenset({"US", "SS", "UL", "SL", "UV", "SV"})
BINARY_VRS = frozenset({"OB", "OW", "OF", "OD", "OL", "OV", "UN"})
NO_CATCH = frozenset(
    {"contents", "value", "truncate", "lowercase", "uppercase", "initials", "pathelement",
     "require", "param", "date", "time", "always"}
)  # fmt: skip


def replace(ctx: Context, nodes: tuple[Node, ...], this: int) -> str:
    """makeReplacement: the rule's text with each call replaced by its result."""
    out: list[str] = []
    for node in nodes:
        if isinstance(node, str):
            out.append(node)
        elif isinstance(node, Stop):
            break
        else:
            out.append(_run(node, ctx, this))
    return "".join(out)


def _run(fn: Call, ctx: Context, this: int) -> str:
    name = fn.name
    if name in VERBATIM:
        return fn.text
    if name in ("quarantine", "skip"):
        raise Quarantine(f"@{name}()")
    if name in ("if", "select"):
        test = calls.condition(fn, ctx, this) if name == "if" else ctx.at_root
        return replace(ctx, fn.clauses[0] if test else fn.clauses[1], this)
    if name == "append":
        return _append(fn, ctx, this)
    if name == "process":
        return _process(ctx, this)
    try:
        if name == "hashuid":
            result: str | None = calls.hashuid(fn, ctx, this, replace)
        else:
            result = calls.SIMPLE[name](fn, ctx, this)
    except (calls.Failed, ValueError, IndexError, OverflowError) as exc:
        if name in NO_CATCH:  # CTP lets these throw: the instance is quarantined
            raise Quarantine(f"@{name}{fn.text[len(name) + 1 :]}: {exc}") from exc
        return "@empty()" if name in calls.FALLBACK_EMPTY else fn.text[len(name) + 1 :]
    return "null" if result is None else result


def _append(fn: Call, ctx: Context, this: int) -> str:
    value = replace(ctx, fn.clauses[0], this)
    current = ctx.value_of(this) if this in ctx.in_ds else None
    if not current:
        return value
    return current + "\\" + value


def _process(ctx: Context, this: int) -> str:
    """@process(): each item of the sequence goes through the script's rules."""
    in_elem, out_elem = ctx.in_ds.get(this), ctx.out_ds.get(this)
    if in_elem is None or out_elem is None:
        raise Quarantine(f"@process() on ({this >> 16:04X},{this & 0xFFFF:04X}): no element")
    if in_elem.VR == "SQ" and out_elem.VR == "SQ":
        for in_item, out_item in zip(list(in_elem.value), out_elem.value, strict=False):
            ctx.push(snapshot(in_item), out_item)
            try:
                process_elements(ctx)
            finally:
                ctx.pop()
    return "@keep()"


def _kept(ctx: Context, tag: int) -> bool:
    group = tag >> 16
    private = group % 2 == 1
    creator = private and (tag & 0xFF00) == 0
    overlay = group & 0xFF00 == 0x6000
    curve = group & 0xFF00 == 0x5000
    # No list of safe private elements ships here: under keep safe private elements only
    # the private creators are kept (CTP's PrivateTagIndex; docs/deid-ctp.md).
    return (
        group in ctx.parsed.keep_groups
        or (creator and ctx.kspe)
        or tag in ALWAYS_KEPT
        or group in KEPT_GROUPS
        or (overlay and not ctx.rol and not (private and ctx.rpg))
        or (curve and not ctx.rc and not (private and ctx.rpg))
    )


def process_elements(ctx: Context) -> None:
    """processElements over the current dataset (the root, or an item of @process)."""
    for key in list(ctx.in_ds.keys()):
        tag = int(key)
        rule = ctx.parsed.rules.get(tag)
        kept = _kept(ctx, tag)
        private = (tag >> 16) % 2 == 1
        if (ctx.rpg and private and rule is None and not kept) or (
            ctx.rue and rule is None and not kept
        ):
            _remove(ctx.out_ds, tag)
        elif ctx.rol and (tag >> 16) & 0xFF00 == 0x6000:
            _remove(ctx.out_ds, tag)
        elif rule is not None:
            _apply_rule(ctx, rule)


def _apply_rule(ctx: Context, rule: Rule) -> None:
    tag = rule.tag
    if tag == METHOD_CODES:
        _method_codes(ctx, rule)
        return
    try:
        value = java_trim(replace(ctx, rule.nodes, tag))
    except Quarantine as exc:
        raise Quarantine(f"{_where(rule)}: {exc}") from exc
    vr = ctx.in_ds[tag].VR
    if "@remove()" in value:
        _remove(ctx.out_ds, tag)
    elif value == "@keep()":
        return
    elif value.startswith("@blank("):
        digits = re.sub(r"\D", "", value[7:].split(")", 1)[0]) if ")" in value else ""
        _put_or_keep(ctx, tag, vr, " " * min(int("0" + digits), 55))
    else:
        _put_or_keep(ctx, tag, vr, "" if value == "@empty()" else value)


def _where(rule: Rule) -> str:
    return f"line {rule.line}, ({rule.tag >> 16:04X},{rule.tag & 0xFFFF:04X}) {rule.name}".rstrip()


def insert_elements(ctx: Context) -> None:
    """insertElements: elements the script names but the dataset lacks, made when their
    rule starts with @always() (not sequences, not inside items)."""
    present = set(ctx.out_ds.keys())
    for rule in ctx.parsed.creators:
        tag = rule.tag
        if tag in present:
            continue
        vr = _dictionary_vr(tag)
        if rule.text.startswith("@always()") and vr != "SQ":
            try:
                value = replace(ctx, rule.nodes, tag)
            except Quarantine as exc:
                raise Quarantine(f"{_where(rule)}: {exc}") from exc
            if value in ("@keep()", "@remove()"):
                continue
            blank = value.startswith("@blank(") or value == "@empty()"
            _put_or_keep(ctx, tag, vr, "" if blank else value)
        elif rule.text.startswith("@always()@require()") and vr == "SQ":
            _put_or_keep(ctx, tag, vr, "")
        elif tag == METHOD_CODES:
            _method_codes(ctx, rule)


def _dictionary_vr(tag: int) -> str:
    try:
        return str(dictionary_VR(tag)).split(" or ")[0]
    except KeyError:
        return "SH"


def _method_codes(ctx: Context, rule: Rule) -> None:
    """(0012,0064): the rule's result read as "/"-separated code values, each added as an
    item ("reset" empties the sequence first); unknown codes get scheme UNKNOWN."""
    out = ctx.out_ds
    if rule.text == "":
        return
    if rule.text == "@remove()":
        _remove(out, METHOD_CODES)
        return
    if rule.text == "@keep()":
        return
    value = java_trim(replace(ctx, rule.nodes, METHOD_CODES))
    if METHOD_CODES not in out or out[METHOD_CODES].VR != "SQ":
        out[METHOD_CODES] = DataElement(METHOD_CODES, "SQ", Sequence())
    for code in value.split("/"):
        code = java_trim(code)
        if code.lower() == "reset":
            out[METHOD_CODES] = DataElement(METHOD_CODES, "SQ", Sequence())
            continue
        item = Dataset()
        meaning = CODE_MEANINGS.get(code)
        item.CodeValue = code
        item.CodingSchemeDesignator = "DCM" if meaning else "UNKNOWN"
        item.CodeMeaning = meaning or "UNKNOWN"
        out[METHOD_CODES].value.append(item)


def _remove(ds: Dataset, tag: int) -> None:
    if tag in ds:
        del ds[tag]


def _put_or_keep(ctx: Context, tag: int, vr: str, value: str) -> None:
    try:
        put(ctx.out_ds, tag, vr, value)
    except ValueError:
        return  # dcm4che refuses the value: CTP logs it and the element stays


def put(ds: Dataset, tag: int, vr: str, value: str) -> None:
    """putXX: ``value`` written as the element's new value ("\\" separates values);
    private elements become LO (LT past 64 characters) as in CTP. ValueError when the
    value cannot be held by the VR."""
    if (tag >> 16) % 2 == 1:
        vr = "LO" if (tag & 0xFFFF) < 0x100 or len(value) <= 64 else "LT"
        ds[tag] = DataElement(tag, vr, value, validation_mode=config.IGNORE)
        return
    values = java_split(value, "\\") if value else []
    if vr == "SQ":
        if values:
            raise ValueError("a sequence holds no text")
        if tag not in ds:
            ds[tag] = DataElement(tag, "SQ", Sequence())
        return
    if not values or values == [""]:
        empty = None if vr in INTEGER_VRS | BINARY_VRS | {"FL", "FD", "AT"} else ""
        ds[tag] = DataElement(tag, vr, empty, validation_mode=config.IGNORE)
        return
    converted = [_convert(vr, v) for v in values]
    held: object = converted[0] if len(converted) == 1 else converted
    ds[tag] = DataElement(tag, vr, held, validation_mode=config.IGNORE)


def _convert(vr: str, text: str) -> object:
    if vr in VALID and not VALID[vr].fullmatch(text):
        raise ValueError(f"{text!r} is not a {vr}")
    if vr in INTEGER_VRS:
        return int(text.strip())
    if vr in ("FL", "FD"):
        return float(text.strip())
    if vr == "AT":
        return int(text.strip(), 16)
    if vr in BINARY_VRS:
        raise ValueError(f"text for a {vr} element")
    return text
