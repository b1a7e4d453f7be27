"""The EUCAIM common anonymization script (github.com/sgsfak/eucaim_anon_pipeline,
ctp/anon.script) loaded and run on real MR and CT files, its effects checked rule by rule.

The script is not part of this repository: it is read from the file named by
SCANDEPOT_EUCAIM_SCRIPT, or else from a local git snapshot of that repository. Without
either the test fails, saying so. Run with ``make test-reference`` (``-m reference``).

Expected values are computed here from the script's text and CTP's documented algorithms
(MD5 read as an unsigned base-10 integer), not by the code under test.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset

from scandepot.deid import ctp, engine
from scandepot.deid.model import Keys, Run
from tests.deid.ctp_data import usmd5
from tests.pipelines.dicom import heudiconv_data, pydicom_file

pytestmark = pytest.mark.reference

SNAPSHOT = Path("/work/.mirror/sgsfak+eucaim_anon_pipeline/repo")
SECRET = "pepper for the reference test"
PROVIDER = hashlib.sha256(b"site 42").hexdigest()  # as the EUCAIM pipeline makes it
KEPT_GROUPS = {0x0002, 0x0018, 0x0020, 0x0028, 0x7FE0}  # the script's <k>, and CTP's own
ALWAYS_KEPT = {0x00080016, 0x00080018, 0x0020000D}


def eucaim_script() -> str:
    path = os.environ.get("SCANDEPOT_EUCAIM_SCRIPT")
    if path:
        if not Path(path).is_file():
            pytest.fail(f"SCANDEPOT_EUCAIM_SCRIPT names {path}, which is not a file.")
        return Path(path).read_text(encoding="utf-8")
    if SNAPSHOT.exists():
        shown = subprocess.run(
            ["git", "-C", str(SNAPSHOT), "show", "HEAD:ctp/anon.script"],
            capture_output=True,
            text=True,
            check=False,
        )
        if shown.returncode == 0:
            return shown.stdout
    pytest.fail(
        "The EUCAIM script is not here: set SCANDEPOT_EUCAIM_SCRIPT to a copy of "
        "ctp/anon.script from github.com/sgsfak/eucaim_anon_pipeline "
        f"(or keep a git snapshot of that repository at {SNAPSHOT})."
    )


def rules_of(text: str) -> tuple[dict[int, str], dict[str, str], set[str], set[int]]:
    root = ET.fromstring(text)
    rules = {
        int(e.get("t", ""), 16): (e.text or "").strip()
        for e in root.findall("e")
        if e.get("en") == "T"
    }
    params = {p.get("t", ""): p.text or "" for p in root.findall("p")}
    removes = {r.get("t", "") for r in root.findall("r") if r.get("en") == "T"}
    keeps = {int(k.get("t", ""), 16) for k in root.findall("k") if k.get("en") == "T"}
    return rules, params, removes, keeps


FILES = {
    "Siemens MR scout": lambda: heudiconv_data() / "01-anat-scout" / "0001.dcm",
    "Siemens EPI mosaic": lambda: heudiconv_data() / "axasc35.dcm",
    "MR": lambda: pydicom_file("MR_small.dcm"),
    "CT": lambda: pydicom_file("CT_small.dcm"),
}


def with_overlay_and_curve(ds: Dataset) -> Dataset:
    ds.add_new(0x60000010, "US", ds.Rows)
    ds.add_new(0x50000005, "US", 2)
    return ds


def expected_ptid(ptid: str) -> str:
    return "EUCAIM-" + usmd5(f"[{SECRET}]{ptid.strip()}")


def hashdate(date: str, ptid: str) -> str:
    shift = -(int(usmd5(ptid)[-4:]) % 3650) or -1
    day = dt.date(int(date[:4]), int(date[4:6]), int(date[6:8])) + dt.timedelta(days=shift)
    return day.strftime("%Y%m%d") + date[8:]


def check_rule(tag: int, rule: str, before: Dataset, after: Dataset, root: str) -> None:
    """One <e> rule's effect on an element the input has."""
    old = before[tag]
    new = after[tag] if tag in after else None
    value = None if new is None else new.value
    ptid = str(before.PatientID)
    if rule == "@remove()":
        assert new is None
    elif rule in ("@keep()", '@setSubstring(0,6)+"01"', "keep()"):
        # The last two are not CTP functions: CTP writes their text, which dcm4che refuses
        # for a DA or TM, and so leaves the element as it was (checked against CTP 2021).
        assert new is not None and value == old.value
    elif rule in ("", "@empty()"):
        assert new is not None and value in ("", None)
    elif rule == "@hashuid(@UIDROOT,this,PatientID)":
        assert value == f"{root}.{usmd5(str(old.value) + expected_ptid(ptid))}"[:64]
    elif (
        rule in ("@modifydate(this,*,*,1)", "@hashdate(this,PatientID)")
        and len(str(old.value or "")) < 8
    ):
        assert new is not None and value in ("", None)  # CTP empties what is not a date
    elif rule == "@modifydate(this,*,*,1)":
        assert value == str(old.value)[:6] + "01" + str(old.value)[8:]
    elif rule == "@hashdate(this,PatientID)":
        assert value == hashdate(str(old.value), ptid)
    elif rule == "@hash(this,16)":
        assert value == usmd5(str(old.value))[:16]
    elif rule == "@always()@param(@PROVIDERID)":
        assert value == PROVIDER
    elif rule == "@param(EUCAIM-)@hashptid(@SECRET_KEY,this)":
        assert value == expected_ptid(ptid)
    elif rule == "@param(EUCAIM-)@hashptid(@SECRET_KEY,PatientID)@param(^Anonymous)":
        assert str(value) == expected_ptid(ptid) + "^Anonymous"
    elif rule == "YES":
        assert value == "YES"
    elif tag == 0x00120063:
        assert re.fullmatch(r".*\\EUCAIM Deidentification v5: \d{8}:\d{6}", "\\".join(value))
    else:
        pytest.fail(
            f"({tag >> 16:04X},{tag & 0xFFFF:04X}) has a rule this test does not know: {rule}"
        )


def check_unscripted(tag: int, before: Dataset, after: Dataset, keeps: set[int]) -> None:
    group = tag >> 16
    if tag in ALWAYS_KEPT or group in KEPT_GROUPS | keeps:
        if group % 2 == 0:  # kept groups are even; private ones go with privategroups
            assert tag in after and after[tag].value == before[tag].value
            return
    assert tag not in after, f"({group:04X},{tag & 0xFFFF:04X}) should be removed"


@pytest.mark.parametrize("name", FILES)
def test_eucaim_script_rule_by_rule(name: str) -> None:
    text = eucaim_script()
    rules, params, removes, keeps = rules_of(text)
    assert removes == {"curves", "overlays", "privategroups", "unspecifiedelements"}
    assert keeps == {0x0018, 0x0020, 0x0028}
    script = ctp.load(text)
    before = with_overlay_and_curve(pydicom.dcmread(FILES[name]()))
    after = with_overlay_and_curve(pydicom.dcmread(FILES[name]()))
    run = Run(Keys(b"unused by this script"), {"SECRET_KEY": SECRET, "PROVIDERID": PROVIDER})
    script.apply(after, run)

    checked = 0
    for elem in before:
        tag = int(elem.tag)
        if tag in rules and tag != 0x00120064:
            check_rule(tag, rules[tag], before, after, params["UIDROOT"])
            checked += 1
        elif tag not in rules:
            check_unscripted(tag, before, after, keeps)
    assert checked > 20
    # Created by @always(): the provider in (0008,0080) and the private (0013,1013).
    assert after.InstitutionName == PROVIDER
    assert after[0x00131013].value == PROVIDER
    assert re.fullmatch(r"EUCAIM Deidentification v5: \d{8}:\d{6}", after.DeidentificationMethod)
    # (0012,0064) "@empty()" is not run by CTP either: it becomes an unknown code.
    codes = after.DeidentificationMethodCodeSequence
    assert [(c.CodeValue, c.CodingSchemeDesignator) for c in codes] == [("@empty()", "UNKNOWN")]
    assert not [e for e in after if e.tag.is_private and int(e.tag) != 0x00131013]
    assert 0x60000010 not in after and 0x50000005 not in after
    assert after.file_meta.MediaStorageSOPInstanceUID == after.SOPInstanceUID
    assert after.PixelData == before.PixelData


@pytest.mark.parametrize("name", FILES)
def test_eucaim_output_passes_the_verification(name: str) -> None:
    """What the script writes on purpose (its provider in a private element, the
    elements it keeps) is not reported; nothing of the patient is left."""
    ds = with_overlay_and_curve(pydicom.dcmread(FILES[name]()))
    run = Run(Keys(b"unused by this script"), {"SECRET_KEY": SECRET, "PROVIDERID": PROVIDER})
    result = engine.deidentify(ctp.load(eucaim_script()), run, ds, source=name)
    assert result.report.passed
