"""Each CTP script function on known inputs. Expected values are computed here from CTP's
documented algorithms (MD5 read as an unsigned base-10 integer; calendar arithmetic done
by hand), never by calling the code under test."""

from __future__ import annotations

import datetime as dt
import io
import re

import pydicom
import pytest

from scandepot.deid.model import Refused
from tests.deid.ctp_data import ct, put, run, siemens_mr, usmd5, xml

ROOT = "1.2.826.0.1.3680043.9.7777"


def test_hash_whole_and_cut() -> None:
    ds = run(xml({"00100020": "@hash(this)", "00080050": "@hash(PatientID,6)"}), ct())
    assert ds.PatientID == usmd5("1CT1")
    assert ds.AccessionNumber == usmd5("1CT1")[:6]


def test_hash_of_a_missing_element_removes() -> None:
    ds = ct()
    ds.StationName = "desk"
    ds = run(xml({"00081010": "@hash(OtherPatientNames)"}), ds)
    assert "StationName" not in ds


def test_hashuid_prefix_digits_and_64_characters() -> None:
    uid = ct().SOPInstanceUID
    ds = run(xml({"00080018": "@hashuid(@ROOT,this)"}, params={"ROOT": ROOT}), ct())
    assert ds.SOPInstanceUID == f"{ROOT}.{usmd5(uid)}"[:64]
    assert len(ds.SOPInstanceUID) <= 64
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID


def test_hashuid_third_argument_appends_that_elements_result() -> None:
    """CTP appends the *rule's result* for the named element, not its value."""
    uid = ct().StudyInstanceUID
    rules = {"0020000D": "@hashuid(@ROOT,this,PatientID)", "00100020": "@hash(this,5)"}
    ds = run(xml(rules, params={"ROOT": ROOT + "."}), ct())
    assert ds.StudyInstanceUID == f"{ROOT}.{usmd5(uid + usmd5('1CT1')[:5])}"[:64]


def test_hashptid_site_and_length() -> None:
    ds = run(xml({"00100020": "@hashptid(@SITE,PatientID,8)"}, params={"SITE": "site7"}), ct())
    assert ds.PatientID == usmd5("[site7]1CT1")[:8]


def test_hashname_words_letters_and_length() -> None:
    ds = ct()
    ds.PatientName = "O'Brien^Mary Ann^Q."
    ds = run(xml({"00100010": "@hashname(this,6,2)"}), ds)
    assert ds.PatientName == usmd5("OBRIENMARYANN")[:6]


def test_initials_and_caesar_offset() -> None:
    ds = ct()
    ds.OtherPatientNames = "Doe^John^Q"
    ds.PatientName = "Doe^John^Q"
    ds = run(xml({"00101001": "@initials(this)", "00100010": "@initials(this,3)"}), ds)
    assert ds.OtherPatientNames == "JQD"  # first, middle, then last
    assert ds.PatientName == "MTG"  # each letter three on


@pytest.mark.parametrize(
    ("age", "width", "expected"),
    [("047Y", 10, "050Y"), ("027Y", 5, "025Y"), ("044Y", 10, "040Y"), ("006M", 4, "8M")],
)
def test_round_age(age: str, width: int, expected: str) -> None:
    ds = ct()
    put(ds, 0x00101010, "AS", age)
    ds = run(xml({"00101010": f"@round(this,{width})"}), ds)
    assert ds.PatientAge == expected


@pytest.mark.parametrize(
    ("date", "inc", "expected"),
    [
        ("19650228", "-10", "19650218"),
        ("20000301", "-1", "20000229"),
        ("19991231", "1", "20000101"),
    ],
)
def test_incrementdate(date: str, inc: str, expected: str) -> None:
    ds = ct()
    ds.PatientBirthDate = date
    ds = run(xml({"00100030": "@incrementdate(this,@INC)"}, params={"INC": inc}), ds)
    assert ds.PatientBirthDate == expected


def test_incrementdate_keeps_the_time_of_a_datetime() -> None:
    ds = ct()
    ds.AcquisitionDateTime = "20161014092234.552000"
    ds = run(xml({"0008002A": "@incrementdate(this,-14)"}), ds)
    assert ds.AcquisitionDateTime == "20160930092234.552000"


@pytest.mark.parametrize(
    ("args", "date", "expected"),
    [
        ("*,*,1", "20161014", "20161001"),
        ("2001,13,31", "20040119", "20020131"),  # month 13: January of the next year
        ("*,2,30", "19970430", "19970302"),  # 30 February 1997 is 2 March
        ("*,6,*", "20040119", "20040619"),
    ],
)
def test_modifydate(args: str, date: str, expected: str) -> None:
    ds = ct()
    ds.StudyDate = date
    ds = run(xml({"00080020": f"@modifydate(this,{args})"}), ds)
    assert ds.StudyDate == expected


def test_hashdate_moves_back_by_the_hash_of_another_element() -> None:
    digits = usmd5("1CT1")[-4:]
    shift = -(int(digits) % 3650) or -1
    expected = (dt.date(1997, 4, 30) + dt.timedelta(days=shift)).strftime("%Y%m%d")
    ds = run(xml({"00080021": "@hashdate(this,PatientID)"}), ct())
    assert ds.SeriesDate == expected


def test_bad_date_gives_empty() -> None:
    ds = ct()
    put(ds, 0x00080020, "DA", "2004")
    ds = run(xml({"00080020": "@incrementdate(this,-1)"}), ds)
    assert ds.StudyDate == ""


def test_param_from_script_then_run_then_null() -> None:
    rules = {
        "00080080": "@param(@SITE)",
        "00081010": "@param(@PROJECT)",
        "00081030": "@param(@NOWHERE)",
        "00101000": "@param(@EMPTY)",
    }
    ds = ct()
    ds.OtherPatientIDs = "x"
    params = {"SITE": "Site A", "EMPTY": ""}
    ds = run(xml(rules, params=params), ds, params={"PROJECT": "P1", "EMPTY": "from run"})
    assert ds.InstitutionName == "Site A"
    assert ds.StationName == "P1"  # not in the script: the archive's parameter
    assert ds.StudyDescription == "null"  # CTP writes Java's null
    assert ds.OtherPatientIDs == "from run"  # empty in the script: the run's value


def test_lookup_and_what_to_do_when_missing() -> None:
    table = {("ptid", "1CT1"): "SUBJ-001", ("ptname", "other"): "x"}
    ds = run(xml({"00100020": "@lookup(this,ptid)"}), ct(), lookup=table)
    assert ds.PatientID == "SUBJ-001"
    for action, check in (("keep", "1CT1"), ("empty", ""), ("default,ANON", "ANON")):
        ds = run(xml({"00100020": f"@lookup(this,ptname,{action})"}), ct(), lookup=table)
        assert ds.PatientID == check
    ds = run(xml({"00100020": "@lookup(this,ptname,remove)"}), ct(), lookup=table)
    assert "PatientID" not in ds
    with pytest.raises(Refused, match="ptname/1CT1"):
        run(xml({"00100020": "@lookup(this,ptname)"}), ct(), lookup=table)


def test_lookup_follows_indirection() -> None:
    table = {("ptid", "1CT1"): "@alias/7", ("alias", "7"): "SEVEN"}
    ds = run(xml({"00100020": "@lookup(this,ptid)"}), ct(), lookup=table)
    assert ds.PatientID == "SEVEN"


def test_incrementdate_by_lookup() -> None:
    table = {("shift", "1CT1"): "-3"}
    rules = {"00080020": "@incrementdate(this,PatientID,shift)"}
    ds = run(xml(rules), ct(), lookup=table)
    assert ds.StudyDate == "20040116"


def test_integer_from_the_table() -> None:
    table = {("acq", "1CT1"): "12"}
    ds = run(xml({"00100020": "@integer(this,acq,4)"}), ct(), lookup=table)
    assert ds.PatientID == "0012"
    with pytest.raises(Refused, match="no number for acq/1CT1"):
        run(xml({"00100020": "@integer(this,acq,4)"}), ct(), lookup={("x", "y"): "1"})


def test_require_always_and_blank() -> None:
    rules = {
        "00321060": "@always()@require(Modality)",  # missing: takes Modality's value
        "00321032": '@always()@require(OtherPatientNames,"nobody")',  # default
        "00080090": "@always()@require()",  # present: kept
        "00081040": "@always()fixed",
        "00081048": "@require()",  # no @always(): nothing is created
    }
    ds = ct()
    ds.ReferringPhysicianName = "Dr^Who"
    ds = run(xml(rules), ds)
    assert ds.RequestedProcedureDescription == "CT"
    assert ds.RequestingPhysician == "nobody"
    assert ds.ReferringPhysicianName == "Dr^Who"
    assert ds.InstitutionalDepartmentName == "fixed"
    assert "PhysiciansOfRecord" not in ds


def test_if_conditions() -> None:
    rules = {
        "00080080": '@if(this,contains,"imaging"){yes}{no}',
        "00081010": '@if(Modality,equals,"ct"){yes}{no}',
        "00081030": "@if(OtherPatientNames,exists){yes}{no}",
        "00080050": "@if(this,isblank){blank}{full}",
        "00100020": '@if(this,matches,"[0-9]CT[0-9]"){yes}{no}',
        "00101010": '@if(this,greaterthan,"3"){old}{young}',
    }
    ds = ct()
    ds.PatientAge = "047Y"
    ds = run(xml(rules), ds)
    assert (ds.InstitutionName, ds.StationName, ds.StudyDescription) == ("yes", "yes", "no")
    assert (ds.AccessionNumber, ds.PatientID, ds.PatientAge) == ("blank", "yes", "old")


def test_append_adds_a_value() -> None:
    ds = ct()
    ds.ImageComments = "first"
    ds = run(xml({"00204000": "@append(){second @param(@P)}"}, params={"P": "x"}), ds)
    assert ds["ImageComments"].value == ["first", "second x"]


def test_text_functions() -> None:
    rules = {
        "00080080": "@uppercase(this)/@lowercase(Modality)",
        "00081010": '@contents(this,"[0-9]")',
        "00081030": '@value(OtherPatientNames,"none")',
        "00100020": "@truncate(this,2)",
        "00080050": "@truncate(StationName,-3)",
        "00204000": "@pathelement(this,-1)",
    }
    ds = ct()
    ds.ImageComments = "a/b/c"
    ds = run(xml(rules), ds)
    assert ds.InstitutionName == "JFK IMAGING CENTER/ct"
    assert ds.StationName == "CT_OC"
    assert ds.StudyDescription == "none"
    assert ds.PatientID == "1C"
    assert ds.AccessionNumber == "OC0"
    assert ds.ImageComments == "c"


def test_date_and_time_are_now() -> None:
    before = dt.datetime.now()
    ds = run(xml({"00204000": "@date(-)T@time(:)"}), ct())
    after = dt.datetime.now()
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}", ds.ImageComments)
    stamp = dt.datetime.strptime(ds.ImageComments, "%Y-%m-%dT%H:%M:%S")
    assert before.replace(microsecond=0) <= stamp <= after


def test_keep_remove_empty_blank_literal_and_escape() -> None:
    rules = {
        "00080080": "@keep()",
        "00081010": "@remove()",
        "00081030": "@empty()",
        "00100040": "@blank(3)",
        "00080050": "ACC\\@1",  # "\\" escapes the "@"
    }
    ds = run(xml(rules), ct())
    assert ds.InstitutionName == "JFK IMAGING CENTER"
    assert "StationName" not in ds
    assert ds.StudyDescription == ""
    assert ds.PatientSex == "   "
    assert ds.AccessionNumber == "ACC@1"


def test_an_empty_rule_empties_the_element() -> None:
    ds = run(xml({"00080080": ""}), ct())
    assert ds.InstitutionName == ""


def test_quarantine_and_skip_refuse() -> None:
    for fn in ("quarantine", "skip"):
        with pytest.raises(Refused, match=f"@{fn}"):
            run(xml({"00100020": f'@if(this,equals,"1CT1"){{@{fn}()}}{{}}'}), ct())


def test_a_date_the_element_cannot_hold_leaves_it_as_it_was() -> None:
    """dcm4che refuses "2016" for a DA; CTP logs it and leaves the element."""
    ds = run(xml({"00080020": "2016"}), ct())
    assert ds.StudyDate == "20040119"


def test_select_and_process_in_sequences() -> None:
    rules = {
        "00101002": "@process()",
        "00100020": "@select(){@hash(this,4)}{@hash(this,6)}",
        "00100022": "@remove()",
    }
    ds = run(xml(rules), ct())
    assert ds.PatientID == usmd5("1CT1")[:4]
    items = ds.OtherPatientIDsSequence
    assert [item.PatientID for item in items] == [usmd5("ABCD1234")[:6], usmd5("1234ABCD")[:6]]
    assert all("TypeOfPatientID" not in item for item in items)


def test_siemens_patient_name_and_id() -> None:
    rules = {
        "00100010": "@param(S-)@hashptid(@KEY,PatientID)@param(^Anon)",
        "00100020": "@param(S-)@hashptid(@KEY,this)",
    }
    ds = run(xml(rules, params={"KEY": "pepper"}), siemens_mr())
    digits = usmd5("[pepper]phantom1-sid1")
    assert ds.PatientID == f"S-{digits}"
    assert str(ds.PatientName) == f"S-{digits}^Anon"


def test_values_ctp_writes_unchecked_save_and_read_back() -> None:
    """CTP writes a 39-digit hash into a 16-character SH; so does the script: the file is
    written, and read back with pydicom's warning about the length."""
    ds = run(xml({"00081010": "@hash(PatientID)", "00100040": "a\\\\b"}), ct())
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    again = pydicom.dcmread(io.BytesIO(buffer.getvalue()))
    with pytest.warns(UserWarning, match="exceeds the maximum length of 16"):
        assert again.StationName == usmd5("1CT1")
    assert list(again.PatientSex) == ["a", "b"]
