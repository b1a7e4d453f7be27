"""Two versions of one dataset side by side, attribute by attribute, inside sequences
too: what the sample test shows. Paths are written as the verification writes them:
``(0010,0010)``, ``(0008,1110)[0]>(0008,1150)``."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset

SHOWN_CHARS = 80  # of a value, on the page


@dataclass(frozen=True, slots=True)
class Row:
    tag: str  # the path: "(0010,0010)", "(0008,1110)[0]>(0008,1150)"
    keyword: str  # "PatientName"; a private or unknown attribute: its name
    before: str | None  # None: not there
    after: str | None
    action: str  # "kept", "replaced", "emptied", "removed", "added"


@dataclass(frozen=True, slots=True)
class _Value:
    keyword: str
    shown: str
    same_as: object  # what two values are compared by


def _tag(elem: DataElement) -> str:
    return f"({elem.tag.group:04X},{elem.tag.element:04X})"


def _bytes(data: bytes) -> _Value:
    digest = hashlib.sha256(data).hexdigest()
    return _Value("", f"<{len(data)} bytes, sha256 {digest[:12]}>", digest)


def _value(elem: DataElement) -> _Value:
    value = elem.value
    if isinstance(value, bytes | bytearray):
        found = _bytes(bytes(value))
        return _Value(elem.keyword or elem.name, found.shown, found.same_as)
    if value is None:
        text = ""
    elif isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        text = "\\".join(str(v) for v in value)
    else:
        text = str(value)
    shown = text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 1] + "…"
    return _Value(elem.keyword or elem.name, shown, text)


def flatten(ds: Dataset, prefix: str = "") -> dict[str, _Value]:
    """Every attribute of ``ds`` (its file meta first), by path, in the dataset's order."""
    found: dict[str, _Value] = {}
    meta = getattr(ds, "file_meta", None)
    if not prefix and meta is not None:
        found.update(flatten(meta, prefix))
    for elem in ds:
        path = prefix + _tag(elem)
        if elem.VR == "SQ":
            items = elem.value or []
            count = f"{len(items)} item" + ("" if len(items) == 1 else "s")
            found[path] = _Value(elem.keyword or elem.name, count, count)
            for index, item in enumerate(items):
                found.update(flatten(item, f"{path}[{index}]>"))
        else:
            found[path] = _value(elem)
    return found


def _action(before: _Value | None, after: _Value | None) -> str:
    if after is None:
        return "removed"
    if before is None:
        return "added"
    if before.same_as == after.same_as:
        return "kept"
    if after.shown == "" and before.shown != "":
        return "emptied"
    return "replaced"


def rows(before: Dataset, after: Dataset) -> list[Row]:
    """Each attribute in ``before`` (in its order), then those only in ``after``."""
    old, new = flatten(before), flatten(after)
    out = []
    for path in [*old, *(p for p in new if p not in old)]:
        was, now = old.get(path), new.get(path)
        either = was or now
        assert either is not None
        out.append(
            Row(
                tag=path,
                keyword=either.keyword,
                before=None if was is None else was.shown,
                after=None if now is None else now.shown,
                action=_action(was, now),
            )
        )
    return out
