"""Element names in CTP scripts, and element values as CTP reads them.

CTP names an element (DicomObject.getElementTag) by its dcm4che 1.4 keyword ("PatientName",
"RefSOPInstanceUID", "DeIdentificationMethodCodeSeq"), by its tag in hex ("00100010",
"(0010,0010)", "[0010,0010]", "0010,0010"), by "gggg[creator]ee" for a private element,
or by a "::"-separated path through sequences (first item of each). dcm4che's keywords
are DICOM's with abbreviations; both spellings are accepted here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from pydicom.datadict import keyword_dict
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

HEX = re.compile(r"[0-9a-fA-F]{1,8}")
HEX_COMMA = re.compile(r"([0-9a-fA-F]{0,4}),([0-9a-fA-F]{1,4})")
PRIVATE = re.compile(r"([0-9a-fA-F]{1,4}),?\[([^\]]*)\],?([0-9a-fA-F]{1,2})?")

# dcm4che 1.4 spells some words of DICOM's keywords short.
_ABBREVIATIONS = (
    ("sequence", "seq"),
    ("referenced", "ref"),
    ("identification", "id"),
    ("&", ""),
)


def _normal(name: str) -> str:
    name = re.sub(r"[^a-z0-9]", "", name.lower())
    for long, short in _ABBREVIATIONS:
        name = name.replace(long, short)
    return name


def _index() -> dict[str, int]:
    index: dict[str, int] = {}
    for keyword, tag in sorted(keyword_dict.items(), key=lambda kv: kv[1]):
        index.setdefault(_normal(keyword), tag)
    for keyword, tag in sorted(keyword_dict.items(), key=lambda kv: kv[1]):
        index.setdefault(_normal(keyword).removesuffix("retired"), tag)  # dcm4che drops it
    return index


_BY_NAME = _index()


def _unwrap(name: str) -> str:
    name = name.strip()
    if len(name) > 1 and (name[0], name[-1]) in (("{", "}"), ("[", "]"), ("(", ")")):
        return name[1:-1].strip()
    return name


def standard_tag(name: str) -> int:
    """The tag a keyword or hex tag names; 0 when it names none (CTP's convention)."""
    name = _unwrap(name)
    if name in keyword_dict:
        return int(keyword_dict[name])
    if HEX.fullmatch(name):
        return int(name, 16)
    match = HEX_COMMA.fullmatch(name)
    if match:
        return (int(match[1] or "0", 16) << 16) | int(match[2], 16)
    if name and name[0].isalpha():
        return _BY_NAME.get(_normal(name), 0)
    return 0


def is_private_spec(name: str) -> bool:
    """True for "gggg[creator]ee": resolved against the dataset at run time."""
    match = PRIVATE.fullmatch(_unwrap(name))
    return bool(match and int(match[1], 16) % 2 == 1)


def private_tag(ds: Dataset, name: str) -> int:
    """DicomObject.getPrivateElementTag: "gggg[creator]ee" in ``ds``; 0 if none."""
    match = PRIVATE.fullmatch(_unwrap(name))
    if not match:
        return 0
    group = int(match[1], 16)
    if group % 2 == 0:
        return 0
    creator = match[2].strip()
    for block in range(1, 256):
        elem = ds.get((group << 16) | block)
        if elem is not None and str(elem.value) == creator:
            offset = int(match[3], 16) if match[3] else None
            if offset is None:
                return (group << 16) | block
            return (group << 16) | (block << 8) | offset
    return 0


def resolvable(name: str, private_names: Iterable[str]) -> bool:
    """Whether a script's element argument can name an element (checked at load)."""
    name = name.strip()
    if name.startswith("root:"):
        name = name[5:].strip()
    if not name:
        return False
    names = set(private_names)
    return all(
        standard_tag(part) != 0 or part.strip() in names or is_private_spec(part)
        for part in name.split("::")
    )


def text(elem: DataElement | None) -> str | None:
    """An element's value as CTP's getElementValue gives it: values joined by "\\";
    None when the element is missing or is a sequence."""
    if elem is None or elem.VR == "SQ":
        return None
    value = elem.value
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("latin-1").rstrip("\0 ")
    if isinstance(value, MultiValue | list | tuple):
        return "\\".join(_one(v) for v in value)
    return _one(value)


def _one(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("latin-1").rstrip("\0 ")
    if type(value) is float and value.is_integer():  # not DSfloat: it keeps its text
        return repr(value)  # Java's Float/Double.toString: "1.0"
    return str(value)
