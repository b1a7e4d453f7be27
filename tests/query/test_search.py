"""The query engine on both catalogs: matching, return attributes, counts, paging, and the
site-wide view of studies held by several projects."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pydicom import Dataset

from scandepot.access.actors import ANONYMOUS, SYSTEM, Actor
from scandepot.access.users import actor_for
from scandepot.catalog.access import User
from scandepot.context import Context
from scandepot.dicom.synthetic import Series, Study, mr_instance, to_bytes
from scandepot.errors import BadRequest
from scandepot.ingest.receive import Source, receive
from scandepot.query.attributes import REQUIRED, Level
from scandepot.query.scope import Scope
from scandepot.query.search import Query, from_identifier, page, search
from tests.query.archived import archive_study

JANE = Study(PatientName="Doe^Jane", PatientID="PAT001", StudyDate="20240301", StudyTime="093000")
JOHN = Study(PatientName="Doe^John", PatientID="PAT002", StudyDate="20240115", StudyTime="140000")
ANNA = Study(PatientName="Smith^Anna", PatientID="PAT003", StudyDate="20231201", StudyTime="170000")
JANE_MR, JANE_CT = Series(1, "T1w", "MR"), Series(2, "scout", "CT")
JOHN_MR, ANNA_PT = Series(1, "T1w", "MR"), Series(1, "FDG", "PT")


@pytest.fixture
def three(ctx: Context, make_project: Callable[..., str]) -> str:
    """Three studies archived in one private project: Jane (MR and CT, 2 + 2 instances),
    John (MR, 2) and Anna (PT, 2)."""
    project = make_project("private")
    archive_study(ctx, project, JANE, [JANE_MR, JANE_CT])
    archive_study(ctx, project, JOHN, [JOHN_MR])
    archive_study(ctx, project, ANNA, [ANNA_PT])
    return project


def studies(ctx: Context, scope: Scope, **matches: str) -> list[str]:
    found = search(ctx, scope, Query(Level.STUDY, matches))
    return [ds.PatientName for ds in found]


def test_study_matching(ctx: Context, three: str) -> None:
    site = Scope(SYSTEM)
    assert studies(ctx, site) == ["Doe^Jane", "Doe^John", "Smith^Anna"]  # newest first
    assert studies(ctx, site, PatientName="Doe*") == ["Doe^Jane", "Doe^John"]
    assert studies(ctx, site, PatientName="Doe^J?hn") == ["Doe^John"]
    assert studies(ctx, site, PatientName="doe*") == ["Doe^Jane", "Doe^John"]  # any case
    assert studies(ctx, site, PatientName="DOE^JANE") == ["Doe^Jane"]
    assert studies(ctx, site, PatientName="Doe%") == []  # SQL's wildcards are literal
    assert studies(ctx, site, PatientName="Doe_Jane") == []
    assert studies(ctx, site, PatientID="PAT003") == ["Smith^Anna"]
    assert studies(ctx, site, StudyDate="20240101-20240131") == ["Doe^John"]
    assert studies(ctx, site, StudyDate="20240101-") == ["Doe^Jane", "Doe^John"]
    assert studies(ctx, site, StudyDate="-20231231") == ["Smith^Anna"]
    assert studies(ctx, site, StudyDate="20240301") == ["Doe^Jane"]
    assert studies(ctx, site, StudyTime="0900-1000") == ["Doe^Jane"]
    assert studies(ctx, site, StudyTime="14") == ["Doe^John"]  # the whole hour
    assert studies(ctx, site, ModalitiesInStudy="CT") == ["Doe^Jane"]
    assert studies(ctx, site, ModalitiesInStudy="PT\\CT") == ["Doe^Jane", "Smith^Anna"]
    assert studies(ctx, site, ModalitiesInStudy="MR", PatientName="Doe*") == [
        "Doe^Jane",
        "Doe^John",
    ]
    both = f"{JANE.StudyInstanceUID}\\{ANNA.StudyInstanceUID}"
    assert studies(ctx, site, StudyInstanceUID=both) == ["Doe^Jane", "Smith^Anna"]
    assert studies(ctx, site, AccessionNumber="", PatientSex="F") == [
        "Doe^Jane",
        "Doe^John",
        "Smith^Anna",
    ]


def test_combined_date_and_time_range(ctx: Context, three: str) -> None:
    """Study Date and Study Time together are one range of date-times (PS3.4 C.2.2.2.5.1)."""
    site = Scope(SYSTEM)
    found = studies(ctx, site, StudyDate="20240115-20240301", StudyTime="130000-090000")
    assert found == ["Doe^John"]  # 15 January 14:00 is inside, 1 March 09:30 is past the end
    assert studies(ctx, site, StudyDate="20240301-", StudyTime="090000-") == ["Doe^Jane"]


def test_fuzzy_matching_of_names(ctx: Context, three: str) -> None:
    site = Scope(SYSTEM)
    fuzzy = search(ctx, site, Query(Level.STUDY, {"PatientName": "doe^j"}, fuzzy=True))
    assert [ds.PatientName for ds in fuzzy] == ["Doe^Jane", "Doe^John"]
    fuzzy = search(ctx, site, Query(Level.STUDY, {"PatientName": "SMI"}, fuzzy=True))
    assert [ds.PatientName for ds in fuzzy] == ["Smith^Anna"]
    literal = search(ctx, site, Query(Level.STUDY, {"PatientName": "SMI"}))
    assert literal == []


def test_study_results_hold_the_required_attributes_and_counts(ctx: Context, three: str) -> None:
    (jane,) = search(ctx, Scope(SYSTEM), Query(Level.STUDY, {"PatientID": "PAT001"}))
    assert set(REQUIRED[Level.STUDY]) <= set(jane.dir())
    assert jane.StudyInstanceUID == JANE.StudyInstanceUID
    assert (jane.StudyDate, jane.StudyTime, jane.StudyID) == ("20240301", "093000", "1")
    assert list(jane.ModalitiesInStudy) == ["CT", "MR"]
    assert jane.NumberOfStudyRelatedSeries == 2
    assert jane.NumberOfStudyRelatedInstances == 4
    assert jane.InstanceAvailability == "ONLINE"
    assert "SeriesInstanceUID" not in jane  # a series attribute: not at the study level


def test_series_and_instances(ctx: Context, three: str) -> None:
    site = Scope(SYSTEM)
    series = search(ctx, site, Query(Level.SERIES, study=JANE.StudyInstanceUID))
    assert [(s.SeriesNumber, s.Modality, s.NumberOfSeriesRelatedInstances) for s in series] == [
        (1, "MR", 2),
        (2, "CT", 2),
    ]
    assert series[0].SeriesDate == "20240301" and series[0].SeriesTime == "093000"
    assert "PatientName" not in series[0]  # a study's series: no study attributes
    everywhere = search(ctx, site, Query(Level.SERIES, {"Modality": "MR"}))
    assert {str(s.PatientName) for s in everywhere} == {"Doe^Jane", "Doe^John"}  # all series
    assert {s.NumberOfStudyRelatedInstances for s in everywhere} == {4, 2}
    query = Query(Level.IMAGE, study=JANE.StudyInstanceUID, series=JANE_CT.SeriesInstanceUID)
    instances = search(ctx, site, query)
    assert [i.InstanceNumber for i in instances] == [1, 2]
    first = instances[0]
    assert set(REQUIRED[Level.IMAGE]) <= set(first.dir())
    assert (first.Rows, first.Columns, first.BitsAllocated) == (8, 8, 16)
    assert first.SOPClassUID == "1.2.840.10008.5.1.4.1.1.4"
    assert "Modality" not in first  # a series' instances: no series attributes
    numbered = search(ctx, site, Query(Level.IMAGE, {"InstanceNumber": "2", "Modality": "PT"}))
    assert [(i.PatientName, i.Modality, i.InstanceNumber) for i in numbered] == [
        ("Smith^Anna", "PT", 2)
    ]


def test_include_and_paging(ctx: Context, three: str) -> None:
    site = Scope(SYSTEM)
    query = Query(Level.STUDY, include=frozenset({"StudyDescription", "SeriesDescription"}))
    found = search(ctx, site, query)
    assert found[0].StudyDescription == "Research^Brain"
    assert "SeriesDescription" not in found[0]  # a series attribute in a study search
    everything = search(ctx, site, Query(Level.STUDY, include="all"))
    assert "StudyDescription" in everything[0] and "Modality" not in everything[0]
    first = page(ctx, site, Query(Level.STUDY, limit=2))
    assert [ds.PatientID for ds in first.results] == ["PAT001", "PAT002"] and first.more
    rest = page(ctx, site, Query(Level.STUDY, limit=2, offset=2))
    assert [ds.PatientID for ds in rest.results] == ["PAT003"] and not rest.more
    assert search(ctx, site, Query(Level.STUDY, offset=10)) == []


def test_patients(ctx: Context, three: str) -> None:
    found = search(ctx, Scope(SYSTEM), Query(Level.PATIENT, {"PatientName": "Doe*"}))
    assert [(p.PatientID, p.NumberOfPatientRelatedStudies) for p in found] == [
        ("PAT001", 1),
        ("PAT002", 1),
    ]


def test_staged_instances_are_not_found(ctx: Context, make_project: Callable[..., str]) -> None:
    project = make_project("private")
    staged = Study(PatientName="Staged^Only")
    with ctx.store.stage() as file:
        file.write(to_bytes(mr_instance(staged, Series(), 1, rows=8, columns=8)))
        receive(ctx, file, Source("upload", project=project))
    assert search(ctx, Scope(SYSTEM), Query(Level.STUDY)) == []
    assert search(ctx, Scope(SYSTEM), Query(Level.IMAGE)) == []


def _actor(users: dict[str, User], name: str) -> Actor:
    return ANONYMOUS if name == "anonymous" else actor_for(users[name])


def test_a_study_in_two_projects_is_one_study_of_what_may_be_read(
    ctx: Context, make_project: Callable[..., str], users: dict[str, User]
) -> None:
    """Copy A holds series 1 and 2, copy B series 2 and 3 (series 2 with the same
    instances): a reader of both sees one study of 3 series and 6 instances; a reader of
    one sees that copy alone; an outsider sees nothing of either."""
    a, b = make_project("private"), make_project("private")
    study = Study(PatientName="Shared^Pat", PatientID="SH1")
    one, two, three = Series(1), Series(2), Series(3)
    archive_study(ctx, a, study, [one, two])
    archive_study(ctx, b, study, [two, three])
    reader = _actor(users, "collaborator")  # collaborator of every project made
    (merged,) = search(ctx, Scope(reader), Query(Level.STUDY))
    assert (merged.NumberOfStudyRelatedSeries, merged.NumberOfStudyRelatedInstances) == (3, 6)
    series = search(ctx, Scope(reader), Query(Level.SERIES, study=study.StudyInstanceUID))
    assert [s.SeriesNumber for s in series] == [1, 2, 3]
    assert [s.NumberOfSeriesRelatedInstances for s in series] == [2, 2, 2]
    instances = search(ctx, Scope(reader), Query(Level.IMAGE, study=study.StudyInstanceUID))
    assert len(instances) == 6
    with ctx.db.read() as db:
        from scandepot.access.permissions import Action
        from scandepot.query.scope import open_scope

        only_b = open_scope(db, reader, b, Action.READ)
    (copy,) = search(ctx, only_b, Query(Level.STUDY))
    assert (copy.NumberOfStudyRelatedSeries, copy.NumberOfStudyRelatedInstances) == (2, 4)
    for name in ("outsider", "anonymous"):
        assert search(ctx, Scope(_actor(users, name)), Query(Level.STUDY)) == []
        assert search(ctx, Scope(_actor(users, name)), Query(Level.IMAGE)) == []


def test_only_readable_copies_are_counted(
    ctx: Context, make_project: Callable[..., str], users: dict[str, User]
) -> None:
    """A public copy and a private one: an outsider sees the public copy's series only."""
    public, private = make_project("public"), make_project("private")
    study = Study(PatientName="Half^Open", PatientID="HO1")
    archive_study(ctx, public, study, [Series(1)])
    archive_study(ctx, private, study, [Series(2), Series(3)])
    outsider = Scope(_actor(users, "outsider"))
    (seen,) = search(ctx, outsider, Query(Level.STUDY))
    assert (seen.NumberOfStudyRelatedSeries, seen.NumberOfStudyRelatedInstances) == (1, 2)
    assert search(ctx, outsider, Query(Level.SERIES, {"SeriesNumber": "2"})) == []
    admin = Scope(_actor(users, "admin"))
    (whole,) = search(ctx, admin, Query(Level.STUDY))
    assert whole.NumberOfStudyRelatedSeries == 3


@pytest.mark.parametrize(
    ("query", "field"),
    [
        (Query(Level.STUDY, {"NoSuchThing": "x"}), "NoSuchThing"),
        (Query(Level.STUDY, {"PatientComments": "x"}), "PatientComments"),  # not kept
        (Query(Level.STUDY, {"SOPInstanceUID": "1.2"}), "SOPInstanceUID"),  # lower level
        (Query(Level.STUDY, {"StudyDate": "2024-01-01"}), "StudyDate"),
        (Query(Level.STUDY, {"StudyDate": "20241301"}), "StudyDate"),
        (Query(Level.STUDY, {"StudyDate": "20240101-20240201-20240301"}), "StudyDate"),
        (Query(Level.STUDY, {"StudyTime": "25"}), "StudyTime"),
        (Query(Level.STUDY, {"StudyInstanceUID": "1.2.abc"}), "StudyInstanceUID"),
        (Query(Level.STUDY, {"StudyInstanceUID": "1.2*"}), "StudyInstanceUID"),
        (Query(Level.SERIES, {"SeriesNumber": "one"}), "SeriesNumber"),
        (Query(Level.SERIES, study="1.2.3'--"), "StudyInstanceUID"),
        (Query(Level.STUDY, limit=-1), "limit"),
        (Query(Level.STUDY, offset=-5), "offset"),
        (Query(Level.STUDY, offset=10**12), "offset"),
    ],
)
def test_bad_queries_name_the_parameter(ctx: Context, query: Query, field: str) -> None:
    with pytest.raises(BadRequest) as raised:
        search(ctx, Scope(SYSTEM), query)
    assert raised.value.status == 400 and raised.value.field == field


def test_a_c_find_identifier(ctx: Context, three: str) -> None:
    identifier = Dataset()
    identifier.QueryRetrieveLevel = "STUDY"
    identifier.PatientName = "Doe*"
    identifier.StudyDate = ""
    identifier.StudyInstanceUID = ""
    identifier.PatientComments = "ignored"  # not kept: returned empty, not matched
    identifier.ReferencedStudySequence = []
    query = from_identifier(identifier, Level.STUDY)
    assert dict(query.matches) == {"PatientName": "Doe*"}
    assert isinstance(query.include, frozenset) and "StudyDate" in query.include
    found = search(ctx, Scope(SYSTEM), query)
    assert [ds.PatientName for ds in found] == ["Doe^Jane", "Doe^John"]
    assert all("StudyDate" in ds for ds in found)


def _values(found: list[Dataset], keyword: str) -> list[Any]:
    return [ds.get(keyword) for ds in found]


def test_series_of_an_unknown_study_are_none(ctx: Context, three: str) -> None:
    assert search(ctx, Scope(SYSTEM), Query(Level.SERIES, study="1.2.3.4")) == []
    assert _values(search(ctx, Scope(SYSTEM), Query(Level.STUDY)), "PatientID") == [
        "PAT001",
        "PAT002",
        "PAT003",
    ]


def test_bulk_loaded_studies_are_found(ctx: Context, make_project: Callable[..., str]) -> None:
    from scandepot.query import bulk

    project = make_project("private")
    bulk.load(ctx, project, studies=30, series=2, instances=3, batch=7)
    found = search(ctx, Scope(SYSTEM), Query(Level.STUDY, {"PatientName": "DOE*"}))
    assert found and all(str(ds.PatientName).startswith("DOE^") for ds in found)
    every = search(ctx, Scope(SYSTEM), Query(Level.STUDY))
    assert len(every) == 30
    assert {ds.NumberOfStudyRelatedInstances for ds in every} == {6}
    assert len(search(ctx, Scope(SYSTEM), Query(Level.IMAGE))) == 180


def test_results_as_dicom_json_as_pydicom_writes_them(ctx: Context, three: str) -> None:
    from scandepot.query.results import to_json

    for level in Level:
        for ds in search(ctx, Scope(SYSTEM), Query(level, include="all")):
            assert to_json(ds) == ds.to_json_dict()


def test_every_required_key_is_in_the_table() -> None:
    from scandepot.query.attributes import ATTRIBUTES, CFIND_REQUIRED, UNIQUE

    for table in (REQUIRED, CFIND_REQUIRED):
        for level, keywords in table.items():
            assert all(k in ATTRIBUTES for k in keywords), level
    assert all(UNIQUE[level] in CFIND_REQUIRED[level] for level in Level)
