"""U and the pseudonyms: the same in one project across datasets and uploads, different
in another project's."""

from __future__ import annotations

import datetime as dt

from pydicom import Dataset

from scandepot.deid import engine, profile
from scandepot.deid.model import Keys, Run

from .conftest import person_dataset

BASIC = '{"options": []}'


def _upload(secret: bytes, lookup: dict[tuple[str, str], str] | None = None) -> list[Dataset]:
    """Two instances of one study, de-identified by a script loaded afresh (an upload)."""
    script = profile.load(BASIC)
    keys = Keys(secret, lookup or {})
    first, second = person_dataset(), person_dataset()
    for ds in (first, second):  # a code meaning the profile keeps: not a name here
        ds.ReferencedImageSequence[0].PurposeOfReferenceCodeSequence[0].CodeMeaning = "Ref"
    second.SOPInstanceUID = "1.2.3.4.5.6.8"  # the one the first references
    for ds in (first, second):
        engine.deidentify(script, Run(keys), ds)
    return [first, second]


def test_uids_map_alike_across_datasets_and_uploads() -> None:
    one, two = _upload(b"project A")
    assert one.StudyInstanceUID == two.StudyInstanceUID != "1.2.3.4.5"
    assert one.StudyInstanceUID.startswith("2.25.")
    reference = one.ReferencedImageSequence[0].ReferencedSOPInstanceUID
    assert reference == two.SOPInstanceUID  # a reference inside a sequence follows
    again = _upload(b"project A")
    assert [d.SOPInstanceUID for d in again] == [one.SOPInstanceUID, two.SOPInstanceUID]
    assert again[0].PatientID == one.PatientID and again[0].StudyDate == one.StudyDate


def test_another_project_maps_otherwise() -> None:
    one, _ = _upload(b"project A")
    other, _ = _upload(b"project B")
    assert other.StudyInstanceUID != one.StudyInstanceUID
    assert other.PatientID != one.PatientID


def test_the_lookup_table_names_the_patient() -> None:
    one, _ = _upload(b"project A", {("ptid", "MRN12345"): "SUBJ-007", ("ptname", "Doe^Jane"): "S7"})
    assert (one.PatientID, str(one.PatientName)) == ("SUBJ-007", "S7")
    plain, _ = _upload(b"project A", {("ptid", "MRN12345"): "SUBJ-007"})
    assert str(plain.PatientName) == "SUBJ-007"  # no name in the table: the ID's pseudonym


def test_modified_dates_shift_by_the_patients_days() -> None:
    script = profile.load('{"options": ["RetainLongitudinalModifiedDates"]}')
    keys = Keys(b"project A")
    ds = person_dataset()
    ds.ReferencedImageSequence[0].PurposeOfReferenceCodeSequence[0].CodeMeaning = "Ref"
    engine.deidentify(script, Run(keys), ds)
    days = keys.shift_days("MRN12345")
    expected = (dt.date(2024, 1, 2) + dt.timedelta(days=days)).strftime("%Y%m%d")
    assert ds.StudyDate == ds.SeriesDate == expected
    assert ds.LongitudinalTemporalInformationModified == "MODIFIED"
