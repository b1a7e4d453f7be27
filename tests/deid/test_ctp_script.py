"""CTP DicomAnonymizer scripts on real files: element rules, keep groups, remove rules,
sequences, and the scripts refused when loaded, with the line named."""

from __future__ import annotations

import datetime as dt
import hashlib

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from scandepot.deid import ctp, engine, scripts, verify
from scandepot.deid.model import Keys, Run, ScriptError
from tests.deid.ctp_data import ct, mr, run, siemens_mr, usmd5, xml
from tests.pipelines.dicom import pydicom_file


def _private(ds: Dataset) -> set[int]:
    return {int(elem.tag) for elem in ds if elem.tag.is_private}


def test_kind_and_sha256() -> None:
    text = xml({"00100020": "@hash(this)"})
    script = scripts.load("ctp", text)
    assert script.kind == "ctp"
    assert script.sha256 == hashlib.sha256(text.encode()).hexdigest()


def test_private_groups_removed_unless_kept_by_group() -> None:
    before = siemens_mr()
    groups = {tag >> 16 for tag in _private(before)}
    assert {0x0019, 0x0029, 0x0051} <= groups
    ds = run(xml(remove=("privategroups",)), siemens_mr())
    assert _private(ds) == set()
    ds = run(xml(keep=("0029",), remove=("privategroups",)), siemens_mr())
    assert {tag >> 16 for tag in _private(ds)} == {0x0029}
    assert ds[0x00291010].value == before[0x00291010].value  # the CSA header, unchanged


def test_a_rule_on_a_private_element_survives_private_group_removal() -> None:
    ds = run(xml({"00291008": "@keep()"}, remove=("privategroups",)), siemens_mr())
    assert _private(ds) == {0x00291008}


def test_unspecified_elements_removed_but_the_kept_ones() -> None:
    before = siemens_mr()
    ds = run(xml({"00100020": "@hash(this)"}, remove=("unspecifiedelements",)), siemens_mr())
    left = {int(elem.tag) for elem in ds}
    kept = {0x00080016, 0x00080018, 0x0020000D, 0x00100020}
    kept |= {int(e.tag) for e in before if e.tag.group in (0x0028, 0x7FE0)}
    assert left == kept
    assert ds.PatientID == usmd5("phantom1-sid1")
    assert ds.PixelData == before.PixelData


def test_keep_group_under_unspecified_removal() -> None:
    before = siemens_mr()
    ds = run(xml(keep=("0018",), remove=("unspecifiedelements",)), siemens_mr())
    assert {e.tag for e in ds if e.tag.group == 0x0018} == {
        e.tag for e in before if e.tag.group == 0x0018
    }
    assert "PatientName" not in ds


def test_elements_not_named_stay_without_remove_rules() -> None:
    before = mr()
    ds = run(xml({"00100010": "@empty()"}), mr())
    assert ds.PatientName == ""
    assert ds.PatientID == before.PatientID
    assert _private(ds) == _private(before)


def test_overlays_removed_only_when_asked() -> None:
    def with_overlay() -> Dataset:
        ds = ct()
        ds.add_new(0x60000010, "US", 512)
        ds.add_new(0x60003000, "OW", b"\0" * 64)
        return ds

    assert 0x60003000 in run(xml(), with_overlay())
    assert 0x60003000 not in run(xml(remove=("overlays",)), with_overlay())
    assert 0x60003000 in run(xml(remove=("unspecifiedelements",)), with_overlay())


def test_curves_as_ctp_treats_them() -> None:
    """Curves are kept under unspecified-element removal unless <r t="curves"> is on;
    CTP has no removal of its own for curves (docs/deid-ctp.md)."""

    def with_curve() -> Dataset:
        ds = ct()
        ds.add_new(0x50000005, "US", 2)
        return ds

    assert 0x50000005 in run(xml(remove=("unspecifiedelements",)), with_curve())
    assert 0x50000005 not in run(xml(remove=("unspecifiedelements", "curves")), with_curve())
    assert 0x50000005 in run(xml(remove=("curves",)), with_curve())


def test_sequences_kept_whole_removed_or_processed() -> None:
    kept = run(xml({"00101002": "@keep()", "00100020": "@hash(this)"}), ct())
    assert [item.PatientID for item in kept.OtherPatientIDsSequence] == ["ABCD1234", "1234ABCD"]
    removed = run(xml({"00101002": "@remove()"}), ct())
    assert "OtherPatientIDsSequence" not in removed
    no_rule = run(xml(remove=("unspecifiedelements",)), ct())
    assert "OtherPatientIDsSequence" not in no_rule
    processed = run(
        xml({"00101002": "@process()", "00100020": "@hash(this)"}, remove=("unspecifiedelements",)),
        ct(),
    )
    items = processed.OtherPatientIDsSequence
    assert [item.PatientID for item in items] == [usmd5("ABCD1234"), usmd5("1234ABCD")]
    assert all("TypeOfPatientID" not in item for item in items)  # no rule inside either


def test_nested_sequences_processed_at_each_level() -> None:
    ds = ct()
    inner = Dataset()
    inner.ReferencedSOPInstanceUID = "1.2.3.4"
    outer = Dataset()
    outer.ReferencedImageSequence = Sequence([inner])
    ds.SourceImageSequence = Sequence([outer])
    rules = {"00082112": "@process()", "00081140": "@process()", "00081155": "@hashuid(@R,this)"}
    ds = run(xml(rules, params={"R": "9.9"}), ds)
    nested = ds.SourceImageSequence[0].ReferencedImageSequence[0]
    assert nested.ReferencedSOPInstanceUID == f"9.9.{usmd5('1.2.3.4')}"


def test_rules_read_the_values_before_the_script() -> None:
    rules = {"00100020": "@hash(this)", "00100010": "@hash(PatientID,8)"}
    ds = run(xml(rules), ct())
    assert ds.PatientName == usmd5("1CT1")[:8]  # the original ID, not its hash


def test_disabled_rules_do_nothing() -> None:
    text = xml({"00100020": "@remove()"}).replace('en="T"', 'en="F"')
    ds = run(text + "", ct())
    assert ds.PatientID == "1CT1"


def test_method_codes_and_patient_identity_removed() -> None:
    rules = {"00120062": "YES", "00120064": "113100/113105"}
    ds = run(xml(rules), ct())
    assert "PatientIdentityRemoved" not in ds  # no @always(): not created
    ds = run(xml({"00120062": "@always()YES", "00120064": "113100/113105/999"}), ct())
    assert ds.PatientIdentityRemoved == "YES"
    codes = [
        (item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning)
        for item in ds.DeidentificationMethodCodeSequence
    ]
    assert codes == [
        ("113100", "DCM", "Basic Application Confidentiality Profile"),
        ("113105", "DCM", "Clean Descriptors Option"),
        ("999", "UNKNOWN", "UNKNOWN"),
    ]


def test_private_element_created_by_always_is_lo() -> None:
    ds = run(xml({"00131013": "@always()@param(@SITE)"}, params={"SITE": "s1"}), ct())
    assert ds[0x00131013].VR == "LO"
    assert ds[0x00131013].value == "s1"


def test_verification_takes_what_the_script_writes_as_meant() -> None:
    """A private element the script writes, and a name it keeps by its own rule, pass;
    a private element carried over from the original is still reported."""
    text = xml(
        {
            "00131013": "@always()@param(@SITE)",
            "00100010": "@keep()",
            "00100020": "@hash(this,8)",
            "00080090": "@remove()",
        },
        params={"SITE": "s1"},
    )
    ds = ct()
    ds.add_new(0x00090010, "LO", "ACME")
    ds.add_new(0x00091001, "LO", "carried over")
    script = ctp.load(text)
    assert 0x00131013 in script.kept and 0x00100010 in script.kept
    assert 0x00080090 not in script.kept
    with pytest.raises(verify.NotDeidentified) as raised:
        engine.deidentify(script, Run(Keys(b"k" * 32)), ds)
    where = {d["path"] for d in raised.value.details or []}
    assert "(0009,1001)" in where
    assert not where & {"(0013,1013)", "(0010,0010)"}


BAD = [
    ("unknown function", xml({"00100020": "@frobnicate(this)"}), 2, "unknown function @frobnicate"),
    ("@uid is not CTP's", xml({"00100020": "@uid(1.2)"}), 2, "unknown function @uid"),
    ("not supported", xml({"00100020": "@encrypt(this,k)"}), 2, "@encrypt is not supported"),
    ("bad tag", xml({"0010002": "@keep()"}), 2, "bad tag '0010002'"),
    ("bad tag letters", xml({"0010002X": "@keep()"}), 2, "bad tag"),
    ("unbalanced (", xml({"00100020": "@hash(this,4"}), 2, "unbalanced parentheses"),
    ("missing (", xml({"00100020": "@hash"}), 2, "unbalanced parentheses"),
    ("unbalanced {", xml({"00100020": "@if(this,isblank){a}{b"}), 2, "unbalanced braces"),
    ("missing clause", xml({"00100020": "@if(this,isblank){a}"}), 2, "unbalanced braces"),
    ("unknown element", xml({"00100020": "@hash(PatientNom)"}), 2, "unknown element 'PatientNom'"),
    ("unknown <r>", xml(remove=("everything",)), 2, "unknown <r> type 'everything'"),
    ("bad <k>", xml(keep=("00180",)), 2, "bad group"),
    ("bad XML", "<script>\n<e en='T' t='00100020'>@keep()</x>\n</script>", 2, "not well-formed"),
    ("unknown XML element", "<script>\n\n<rule t='1'/>\n</script>", 3, "unknown element <rule>"),
    (
        "two rules",
        "<script>\n<e en='T' t='00100020'>a</e>\n<e en='T' t='00100020'>b</e>\n</script>",
        3,
        "first is on line 2",
    ),
    (
        "entities",
        '<!DOCTYPE s [<!ENTITY a "aaaa">]>\n<script><p t="x">&a;</p></script>',
        1,
        "document type",
    ),
]


@pytest.mark.parametrize(("why", "text", "line", "message"), BAD, ids=[b[0] for b in BAD])
def test_malformed_scripts_refused_naming_the_line(
    why: str, text: str, line: int, message: str
) -> None:
    with pytest.raises(ScriptError, match="line") as caught:
        ctp.load(text)
    assert caught.value.line == line
    assert message in str(caught.value)
    assert f"line {line}:" in str(caught.value)


def test_undefined_entity_refused() -> None:
    with pytest.raises(ScriptError, match="undefined entity"):
        ctp.load('<script>\n<p t="x">&secret;</p></script>')


def test_an_at_sign_not_calling_a_function_ends_the_rule_as_in_ctp() -> None:
    """CTP stops reading a rule at an "@" with no "(" after it (the EUCAIM script has one)."""
    ds = ct()
    ds.StudyDescription = "x"
    ds = run(xml({"00081030": "abc@DEF,ghi"}), ds)
    assert ds.StudyDescription == "abc"


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small.dcm", "examples_rgb_color.dcm"])
def test_ct_mr_us_reduced_to_the_kept_and_the_scripted(name: str) -> None:
    before = pydicom.dcmread(pydicom_file(name))
    rules = {"00100020": "@hashptid(@S,this)", "00080020": "@incrementdate(this,-365)"}
    ds = run(xml(rules, params={"S": "s"}, remove=("unspecifiedelements",)), before.copy())
    before = pydicom.dcmread(pydicom_file(name))
    expected = {int(e.tag) for e in before if e.tag.group in (0x0028, 0x7FE0)}
    expected |= {0x00080016, 0x00080018, 0x0020000D} & {int(e.tag) for e in before}
    expected |= {0x00100020} | ({0x00080020} if "StudyDate" in before else set())
    assert {int(e.tag) for e in ds} == expected
    assert ds.PatientID == usmd5(f"[s]{before.PatientID}")
    if "StudyDate" in before and before.StudyDate:
        y, m, d = int(before.StudyDate[:4]), int(before.StudyDate[4:6]), int(before.StudyDate[6:])
        assert ds.StudyDate == (dt.date(y, m, d) - dt.timedelta(days=365)).strftime("%Y%m%d")
    assert ds.PixelData == before.PixelData
