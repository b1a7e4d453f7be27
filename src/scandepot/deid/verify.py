"""The check after every de-identification (PS3.15 E.1): does anything still hold a value
the rules say must go?

:func:`identifiers` reads, before a script runs, the values that identify the patient and
the people of the study (a few attributes at the top level and in the sequences that
carry persons; no copy of the dataset). :func:`check` then walks the whole result, nested
sequences and private attributes included, and reports:

- an original identifying value left anywhere, whole or inside free text;
- a private attribute (odd group) not marked safe;
- an original date left, when the script's rules say dates are shifted or removed;
- an original free-text descriptor left, when the rules say descriptors go.

``kept`` are tags a script keeps on purpose (a CTP ``@keep``, an option's K): their values
are not findings.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from pydicom import Dataset
from pydicom.datadict import keyword_for_tag
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence

from scandepot.deid.actions import BINARY, vr_of
from scandepot.errors import Invalid

# Attributes whose values identify a person (PS3.15 E.1, Table E.1-1: the names, IDs,
# addresses and numbers the basic profile removes). Dates are gathered apart.
IDENTIFYING: tuple[int, ...] = (
    0x00080050,  # Accession Number
    0x00080090,  # Referring Physician's Name
    0x00080092,  # Referring Physician's Address
    0x00080094,  # Referring Physician's Telephone Numbers
    0x00081048,  # Physician(s) of Record
    0x00081050,  # Performing Physician's Name
    0x00081060,  # Name of Physician(s) Reading Study
    0x00081070,  # Operators' Name
    0x00100010,  # Patient's Name
    0x00100020,  # Patient ID
    0x00101000,  # Other Patient IDs
    0x00101001,  # Other Patient Names
    0x00101005,  # Patient's Birth Name
    0x00101040,  # Patient's Address
    0x00101060,  # Patient's Mother's Birth Name
    0x00101090,  # Medical Record Locator
    0x00102154,  # Patient's Telephone Numbers
    0x00321032,  # Requesting Physician
    0x00401010,  # Names of Intended Recipients of Results
)
# Sequences whose items carry persons' identity, searched too.
PERSON_SEQUENCES: tuple[int, ...] = (
    0x00081120,  # Referenced Patient Sequence
    0x00101002,  # Other Patient IDs Sequence
    0x00400275,  # Request Attributes Sequence
)
DATES: tuple[int, ...] = (
    0x00080020,  # Study Date
    0x00080021,  # Series Date
    0x00080022,  # Acquisition Date
    0x00080023,  # Content Date
    0x00100030,  # Patient's Birth Date
)
# Free-text descriptors (Clean Descriptors' rows most often filled).
DESCRIPTORS: tuple[int, ...] = (
    0x00081030,  # Study Description
    0x0008103E,  # Series Description
    0x00181030,  # Protocol Name
    0x00204000,  # Image Comments
    0x00104000,  # Patient Comments
    0x001021B0,  # Additional Patient History
    0x00321060,  # Requested Procedure Description
    0x00400254,  # Performed Procedure Step Description
)
SHORTEST = 3  # shorter values are matched as whole values only, never inside text
LONG_TEXT = 8  # a descriptor this long is looked for inside other text too
# Values that identify nobody: an instance de-identified before holds them.
NOBODY = frozenset({"anonymous", "anonymized", "anon", "unknown", "19000101"})
NUMBERS = frozenset({"AT", "DS", "FD", "FL", "IS", "SL", "SS", "SV", "UL", "US", "UV"})
# Where a person's name may be written in words, and descriptors copied.
FREE_TEXT = frozenset({"LO", "LT", "PN", "ST", "UC", "UT"})
_WORDS = re.compile(r"[\s^=,.;:/\\()_-]+")


@dataclass(frozen=True, slots=True)
class Finding:
    path: str  # where: "(0010,0010)" or "(0008,1110)[0]>(0010,0010)"
    keyword: str
    reason: str  # "holds the original Patient's Name", "private, not marked safe", ...


@dataclass(slots=True)
class Report:
    findings: list[Finding] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.findings


class NotDeidentified(Invalid):
    """The verification found what must not be there; the operation fails."""

    code = "not_deidentified"

    def __init__(self, report: Report, *, source: str = "instance") -> None:
        shown = "; ".join(f"{f.path} {f.keyword}: {f.reason}" for f in report.findings[:5])
        more = len(report.findings) - 5
        super().__init__(
            f"{source} is not de-identified: {shown}" + (f" (and {more} more)" if more > 0 else ""),
            details=[
                {"path": f.path, "keyword": f.keyword, "reason": f.reason} for f in report.findings
            ],
        )
        self.report = report


@dataclass(frozen=True, slots=True)
class Identifiers:
    """What identified the instance before the script ran: the values searched for after."""

    values: frozenset[str] = frozenset()  # names, IDs, addresses; lower case
    # The words of each name: a name is found in text when all its words are there, in
    # any order ("Brain study for Jane Doe"), not when one common word is.
    names: frozenset[frozenset[str]] = frozenset()

    @property
    def parts(self) -> frozenset[str]:
        """Every word of every name."""
        return frozenset().union(*self.names)

    dates: frozenset[str] = frozenset()  # YYYYMMDD
    texts: frozenset[str] = frozenset()  # free-text descriptors; lower case
    patient_id: str = ""  # the original Patient ID, as given


@dataclass(frozen=True, slots=True)
class Rules:
    """What a script promises beyond removing identifiers (the profile says; a CTP script
    leaves the defaults: identifiers and private attributes only)."""

    dates_go: bool = False  # no original date may be left (shifted or removed)
    descriptors_go: bool = False  # no original free-text descriptor may be left


def _text(elem: DataElement | RawDataElement) -> str:
    value = elem.value
    if isinstance(value, bytes):
        return value.decode("latin-1").strip(" \x00")
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, list | tuple | MultiValue):
        return "\\".join(str(v) for v in value)
    return str(value)


def _gather(
    ds: Dataset,
    values: set[str],
    names: set[frozenset[str]],
    dates: set[str],
    texts: set[str],
) -> None:
    for tag in IDENTIFYING:
        elem = ds.get_item(tag)
        if elem is None or elem.value in (None, b"", ""):
            continue
        for value in _text(elem).split("\\"):
            value = value.strip().lower()
            if value:
                values.add(value)
                # A person's name: its words too ("doe^john" -> "doe", "john").
                words = frozenset(_WORDS.split(value)) - NOBODY
                words = frozenset(w for w in words if len(w) >= SHORTEST)
                if words:
                    names.add(words)
    for tag in DATES:
        elem = ds.get_item(tag)
        if elem is not None and elem.value not in (None, b"", ""):
            dates.update(v.strip()[:8] for v in _text(elem).split("\\") if len(v.strip()) >= 8)
    for tag in DESCRIPTORS:
        elem = ds.get_item(tag)
        if elem is not None and elem.value not in (None, b"", ""):
            texts.add(_text(elem).lower())


def identifiers(ds: Dataset) -> Identifiers:
    """Taken before the script runs (cheap: a few attributes, no copy of the dataset)."""
    values: set[str] = set()
    names: set[frozenset[str]] = set()
    dates: set[str] = set()
    texts: set[str] = set()
    _gather(ds, values, names, dates, texts)
    for tag in PERSON_SEQUENCES:
        if tag in ds:
            for item in ds[tag].value:
                _gather(item, values, names, dates, texts)
    patient = ds.get_item(0x00100020)
    return Identifiers(
        frozenset(values - NOBODY - {""}),
        frozenset(names),
        frozenset(dates - NOBODY),
        frozenset(t for t in texts if len(t) >= SHORTEST),
        _text(patient) if patient is not None else "",
    )


def _walk(ds: Dataset, path: str) -> Iterator[tuple[str, int, DataElement | RawDataElement]]:
    for tag in ds.keys():
        elem = ds.get_item(tag)
        here = f"{path}({tag >> 16:04X},{tag & 0xFFFF:04X})"
        yield here, tag, elem
        if vr_of(elem) == "SQ":
            seq = ds[tag].value
            if isinstance(seq, Sequence):
                for i, item in enumerate(seq):
                    yield from _walk(item, f"{here}[{i}]>")


def keyword(tag: int) -> str:
    return keyword_for_tag(tag) or ("private" if tag >> 16 & 1 else "unknown")


def value_reason(text: str, before: Identifiers, vr: str, rules: Rules) -> str | None:
    low = text.lower()
    if not low or vr in NUMBERS:
        return None
    for value in before.values:
        if low == value or (len(value) >= SHORTEST and value in low):
            return f"holds an original identifying value ({value!r})"
    if vr in FREE_TEXT and before.names:
        words = set(_WORDS.split(low))
        if any(name <= words for name in before.names):
            return "holds an original name, in words"
    if rules.dates_go and vr in ("DA", "DT") and low[:8] in before.dates:
        return "holds an original date"
    if (
        rules.descriptors_go
        and vr in FREE_TEXT
        and any(t == low or (len(t) >= LONG_TEXT and t in low) for t in before.texts)
    ):
        return "holds an original free-text descriptor"
    return None


def check(
    before: Identifiers,
    ds: Dataset,
    kept: frozenset[int] = frozenset(),
    *,
    rules: Rules | None = None,
) -> Report:
    """Findings in the de-identified ``ds``; ``kept`` are tags the script keeps on purpose."""
    rules = rules or Rules()
    report = Report()
    for path, tag, elem in _walk(ds, ""):
        if tag in kept or tag == 0x7FE00010:
            continue
        if tag >> 16 & 1:  # none is safe here: see table.SAFE_PRIVATE
            report.findings.append(Finding(path, keyword(tag), "private, not marked safe"))
            continue
        vr = vr_of(elem)
        if vr == "SQ" or (vr in BINARY and vr != "UN"):
            continue
        reason = value_reason(_text(elem), before, vr, rules)
        if reason is not None:
            report.findings.append(Finding(path, keyword(tag), reason))
    return report
