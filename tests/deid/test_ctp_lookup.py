"""CTP lookup tables: Java properties "TYPE/value = replacement" to pseudonym rows."""

from __future__ import annotations

import pytest

from scandepot.deid.ctp import lookup
from scandepot.deid.model import ScriptError
from tests.deid.ctp_data import ct, run, xml

TABLE = """# project pseudonyms
! also a comment
ptid/1CT1 = SUBJ-001
ptid/4MR1=SUBJ-002
ptname/CompressedSamples^CT1 : Anon^One
ptid/with\\ space   continued \\
    on the next line
date/\\u00e9t\\u00e9=-7
"""


def test_properties_parsed_to_rows() -> None:
    assert lookup.parse(TABLE) == {
        ("ptid", "1CT1"): "SUBJ-001",
        ("ptid", "4MR1"): "SUBJ-002",
        ("ptname", "CompressedSamples^CT1"): "Anon^One",
        ("ptid", "with space"): "continued on the next line",
        ("date", "été"): "-7",
    }


def test_duplicates_refused_naming_both_lines() -> None:
    text = "ptid/1 = a\nptid/2 = b\n\nptid/1 = c\n"
    with pytest.raises(ScriptError, match="lines 1 and 4") as caught:
        lookup.parse(text)
    assert caught.value.line == 4
    assert "lookup table, line 4" in str(caught.value)


def test_key_without_a_type_refused() -> None:
    with pytest.raises(ScriptError, match="not TYPE/value") as caught:
        lookup.parse("ptid/1 = a\n12345 = b\n")
    assert caught.value.line == 2


def test_a_parsed_table_drives_lookup() -> None:
    rules = {"00100020": "@lookup(this,ptid)", "00100010": "@lookup(this,ptname)"}
    ds = run(xml(rules), ct(), lookup=lookup.parse(TABLE))
    assert ds.PatientID == "SUBJ-001"
    assert str(ds.PatientName) == "Anon^One"
