"""The verification after a script: what it catches and what it lets through on purpose."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom import Dataset
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from scandepot.deid import engine, fast, profile, verify
from scandepot.deid.model import Keys, Run
from scandepot.storage.store import StagedFile

from .conftest import person_dataset


class KeepsAll:
    """A script that changes nothing but the top-level name: what the check is for."""

    kind = "ctp"
    sha256 = "0" * 64

    def __init__(self, kept: frozenset[int] = frozenset()) -> None:
        self.kept = kept

    def apply(self, ds: Dataset, run: Run) -> None:
        ds.PatientName = "SUBJ01"
        ds.PatientID = "SUBJ01"
        ds.AccessionNumber = ""
        ds.StudyDescription = "research"


def test_a_name_left_in_a_nested_sequence_and_a_private_tag_is_reported() -> None:
    with pytest.raises(verify.NotDeidentified) as caught:
        engine.deidentify(KeepsAll(), Run(Keys(b"k")), person_dataset())
    where = {(f.path, f.reason.split(" (")[0]) for f in caught.value.report.findings}
    assert (
        "(0008,1140)[0]>(0040,A170)[0]>(0008,0104)",
        "holds an original identifying value",
    ) in where
    assert ("(0009,1001)", "private, not marked safe") in where
    assert ("(0009,0010)", "private, not marked safe") in where
    assert "(0009,1001)" in str(caught.value)


def test_a_kept_tag_is_not_a_finding() -> None:
    ds = person_dataset()
    del ds[0x00090010], ds[0x00091001]
    ds.ReferencedImageSequence[0].PurposeOfReferenceCodeSequence[0].CodeMeaning = "x"
    before = verify.identifiers(ds)
    KeepsAll().apply(ds, Run(Keys(b"k")))
    ds.OperatorsName = "Doe^Jane"
    assert [f.keyword for f in verify.check(before, ds).findings] == ["OperatorsName"]
    assert verify.check(before, ds, frozenset({0x00081070})).passed


def test_dates_and_descriptors_by_the_rules() -> None:
    ds = person_dataset()
    before = verify.identifiers(ds)
    assert before.dates == {"19700215", "20240102"}
    assert "doe^jane" in before.values and frozenset({"doe", "jane"}) in before.names
    ds = Dataset()
    ds.SeriesDate = "20240102"
    ds.SeriesDescription = "Brain study for Jane Doe"[:5] + "x"
    assert verify.check(before, ds).passed  # a CTP script's defaults: no date rule
    found = verify.check(before, ds, rules=verify.Rules(dates_go=True)).findings
    assert [(f.keyword, f.reason) for f in found] == [("SeriesDate", "holds an original date")]
    ds.SeriesDescription = "brain study for jane doe"
    reasons = [f.reason for f in verify.check(before, ds, rules=verify.Rules()).findings]
    assert reasons == ["holds an original name, in words"]
    ds.SeriesDescription = "Jane's scan"  # one word of the name: not enough
    assert verify.check(before, ds).passed


def test_the_profile_keeps_what_the_table_omits_and_the_check_catches_a_name_there() -> None:
    script = profile.load('{"options": ["CleanDescriptors", "RetainLongitudinalModifiedDates"]}')
    with pytest.raises(verify.NotDeidentified) as caught:
        engine.deidentify(script, Run(Keys(b"k")), person_dataset())
    assert [f.path for f in caught.value.report.findings] == [
        "(0008,1140)[0]>(0040,A170)[0]>(0008,0104)"  # Code Meaning: not in Table E.1-1
    ]
    ds = person_dataset()
    ds.ReferencedImageSequence[0].PurposeOfReferenceCodeSequence[0].CodeMeaning = "Ref"
    assert engine.deidentify(script, Run(Keys(b"k")), ds).report.passed
    assert "jane" not in ds.StudyDescription.lower() and "Brain study" in ds.StudyDescription
    assert ds.StudyDate != "20240102" and ds.StudyTime == "101500"
    assert 0x00091001 not in ds and 0x00090010 not in ds


@pytest.mark.parametrize("implicit", [False, True])
def test_the_bytes_way_reports_the_same_nested_name(tmp_path: Path, implicit: bool) -> None:
    path = tmp_path / "person.dcm"
    ds = person_dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
    ds.save_as(path, enforce_file_format=True)
    script, run = profile.load("{}"), Run(Keys(b"k"))
    done = fast.deidentify(script, run, path.read_bytes())  # not Unsupported: the bytes way
    assert [(f.path, f.keyword) for f in done.report.findings] == [
        ("(0008,1140)[0]>(0040,A170)[0]>(0008,0104)", "CodeMeaning")
    ]
    out = StagedFile(tmp_path / "out.dcm", hashed=False)
    with pytest.raises(verify.NotDeidentified, match=r"person\.dcm is not de-identified"):
        engine.deidentify_file(script, run, path, out)
