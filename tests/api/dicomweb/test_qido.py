"""QIDO-RS under both DICOMweb roots: every path form, the query parameters, what each
caller finds at the site-wide root, bad requests, and dicomweb-client as the peer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests
from dicomweb_client.api import DICOMwebClient
from fastapi.testclient import TestClient

from scandepot.context import Context
from scandepot.dicom.synthetic import Series, Study
from tests.conftest import LiveServer
from tests.query.archived import archive_study

JANE = Study(PatientName="Doe^Jane", PatientID="PAT001", StudyDate="20240301")
JOHN = Study(PatientName="Doe^John", PatientID="PAT002", StudyDate="20240115")
MR, CT = Series(1, "T1w", "MR"), Series(2, "scout", "CT")
JSON = "application/dicom+json"

SEQUENCE_KEY = "OtherPatientIDsSequence.PatientID"
STUDY_UID, SERIES_UID, SOP_UID, RETRIEVE_URL = "0020000D", "0020000E", "00080018", "00081190"


@pytest.fixture
def world(ctx: Context, make_project: Callable[..., str]) -> str:
    """A private project with Jane's study (an MR and a CT series of 2 instances each)
    and John's (MR, 2 instances)."""
    project = make_project("private", label="P")
    archive_study(ctx, project, JANE, [MR, CT])
    archive_study(ctx, project, JOHN, [Series(1, "T1w", "MR")])
    return project


def first(item: dict[str, Any], tag: str) -> Any:
    return item[tag]["Value"][0]


def get(client: TestClient, url: str, auth: Any, **params: Any) -> Any:
    r = client.get(url, params=params, auth=auth)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == JSON
    return r.json()


def test_every_path_form(client: TestClient, actors: dict[str, Any], world: str) -> None:
    auth = actors["collaborator"]
    root = "/dicomweb/projects/P"
    studies = get(client, f"{root}/studies", auth)
    assert [first(s, STUDY_UID) for s in studies] == [JANE.StudyInstanceUID, JOHN.StudyInstanceUID]
    jane = studies[0]
    assert first(jane, "00100010") == {"Alphabetic": "Doe^Jane"}
    assert (first(jane, "00201206"), first(jane, "00201208")) == (2, 4)
    assert jane["00080061"]["Value"] == ["CT", "MR"]
    base = f"http://testserver{root}/studies/{JANE.StudyInstanceUID}"
    assert first(jane, RETRIEVE_URL) == base and jane[RETRIEVE_URL]["vr"] == "UR"
    series = get(client, f"{root}/studies/{JANE.StudyInstanceUID}/series", auth)
    assert [first(s, "00080060") for s in series] == ["MR", "CT"]
    assert first(series[1], RETRIEVE_URL) == f"{base}/series/{CT.SeriesInstanceUID}"
    assert first(series[1], "00201209") == 2
    instances = get(
        client,
        f"{root}/studies/{JANE.StudyInstanceUID}/series/{CT.SeriesInstanceUID}/instances",
        auth,
    )
    assert len(instances) == 2
    sop = first(instances[0], SOP_UID)
    assert (
        first(instances[0], RETRIEVE_URL) == f"{base}/series/{CT.SeriesInstanceUID}/instances/{sop}"
    )
    assert (first(instances[0], "00280010"), first(instances[0], "00280100")) == (8, 16)
    assert len(get(client, f"{root}/studies/{JANE.StudyInstanceUID}/instances", auth)) == 4
    assert len(get(client, f"{root}/series", auth)) == 3
    every = get(client, f"{root}/instances", auth)
    assert len(every) == 6 and all("00100010" in i for i in every)  # study attributes too
    site = get(client, "/dicomweb/studies", auth, PatientID="PAT002")
    assert (
        first(site[0], RETRIEVE_URL)
        == f"http://testserver/dicomweb/studies/{JOHN.StudyInstanceUID}"
    )


def test_query_parameters(client: TestClient, actors: dict[str, Any], world: str) -> None:
    auth, url = actors["member"], "/dicomweb/projects/P/studies"
    by_tag = get(client, url, auth, **{"00100010": "Doe^Jo*"})
    assert [first(s, "00100020") for s in by_tag] == ["PAT002"]
    assert get(client, url, auth, PatientName="doe^jane") == []  # literal: case counts
    fuzzy = get(client, url, auth, PatientName="doe^jane", fuzzymatching="true")
    assert [first(s, "00100020") for s in fuzzy] == ["PAT001"]
    ranged = get(client, url, auth, StudyDate="20240201-", ModalitiesInStudy="CT")
    assert [first(s, "00100020") for s in ranged] == ["PAT001"]
    listed = get(client, url, auth, StudyInstanceUID=f"{JOHN.StudyInstanceUID},1.2.3")
    assert [first(s, "00100020") for s in listed] == ["PAT002"]
    r = client.get(url, params=[("includefield", "StudyDescription,00081090")], auth=auth)
    assert "00081030" in r.json()[0] and "00081090" not in r.json()[0]  # a series attribute
    r = client.get(
        url, params=[("includefield", "00081030"), ("includefield", "00200010")], auth=auth
    )
    assert "00081030" in r.json()[0]
    assert "00081030" in get(client, url, auth, includefield="all")[0]
    r = client.get(url, params={"limit": "1"}, auth=auth)
    assert len(r.json()) == 1 and r.headers["warning"].startswith("299 http://testserver/dicomweb")
    r = client.get(url, params={"limit": "1", "offset": "1"}, auth=auth)
    assert [first(s, "00100020") for s in r.json()] == ["PAT002"] and "warning" not in r.headers
    r = client.get(url, params={"PatientID": "nobody"}, auth=auth)
    assert r.status_code == 200 and r.json() == []
    r = client.head(url, auth=auth)
    assert r.status_code == 200 and r.content == b""
    r = client.get(url, headers={"accept": "application/json"}, auth=auth)
    assert r.status_code == 200


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/studies", {"NoSuchKey": "1"}, "NoSuchKey"),
        ("/studies", {"00990099": "1"}, "00990099"),
        ("/studies", {"StudyDate": "2024-01-01"}, "StudyDate"),
        ("/studies", {"StudyDate": "20240230"}, "StudyDate"),
        ("/studies", {"StudyTime": "2500"}, "StudyTime"),
        ("/studies", {"StudyInstanceUID": "1.2.x"}, "StudyInstanceUID"),
        ("/studies", {"SOPInstanceUID": "1.2"}, "SOPInstanceUID"),
        (
            "/studies",
            {"OtherPatientIDsSequence.PatientID": "1"},
            "OtherPatientIDsSequence.PatientID",
        ),
        ("/studies", {"limit": "-1"}, "limit"),
        ("/studies", {"limit": "ten"}, "limit"),
        ("/studies", {"offset": "99999999999999999999"}, "offset"),
        ("/studies", {"offset": "-3"}, "offset"),
        ("/studies", {"fuzzymatching": "maybe"}, "fuzzymatching"),
        ("/studies", {"includefield": "NotAKeyword"}, "includefield"),
        ("/studies/1.2.abc/series", {}, "StudyInstanceUID"),
        ("/studies/1.2.3/series/9.x/instances", {}, "SeriesInstanceUID"),
    ],
)
def test_bad_requests_are_400_naming_the_parameter(
    client: TestClient, actors: dict[str, Any], world: str, path: str, params: Any, field: str
) -> None:
    for root in ("/dicomweb", "/dicomweb/projects/P"):
        r = client.get(root + path, params=params, auth=actors["owner"])
        assert r.status_code == 400, r.text
        assert r.json()["error"]["field"] == field


def test_a_repeated_key_and_an_unmet_accept(
    client: TestClient, actors: dict[str, Any], world: str
) -> None:
    url = "/dicomweb/studies?PatientID=A&PatientID=B"
    r = client.get(url, auth=actors["owner"])
    assert r.status_code == 400 and r.json()["error"]["field"] == "PatientID"
    xml = 'multipart/related; type="application/dicom+xml"'
    r = client.get("/dicomweb/studies", headers={"accept": xml}, auth=actors["owner"])
    assert r.status_code == 406 and set(r.json()) == {"error"}
    refused = "application/dicom+json;q=0, text/html"
    r = client.get("/dicomweb/studies", headers={"accept": refused}, auth=actors["owner"])
    assert r.status_code == 406


def test_the_site_root_shows_what_each_caller_may_read(
    ctx: Context,
    client: TestClient,
    actors: dict[str, Any],
    make_project: Callable[..., str],
) -> None:
    """A private project's study is nothing to an outsider and anonymous; a study archived
    in a private and a public project is one study, of the copies the caller may read."""
    private, public = make_project("private"), make_project("public")
    archive_study(ctx, private, JANE, [MR, CT])
    archive_study(ctx, public, JANE, [MR])
    archive_study(ctx, private, JOHN, [Series(1)])
    for name in ("anonymous", "outsider"):
        found = client.get("/dicomweb/studies", auth=actors[name]).json()
        assert [first(s, STUDY_UID) for s in found] == [JANE.StudyInstanceUID], name
        assert (first(found[0], "00201206"), first(found[0], "00201208")) == (1, 2)
        assert first(found[0], "00080061") == "MR"
        series = client.get(
            f"/dicomweb/studies/{JANE.StudyInstanceUID}/series", auth=actors[name]
        ).json()
        assert [first(s, "00080060") for s in series] == ["MR"]
        assert client.get("/dicomweb/instances", auth=actors[name]).json().__len__() == 2
        r = client.get(f"/dicomweb/projects/{private}/studies", auth=actors[name])
        assert r.status_code in (401, 404)
    found = client.get("/dicomweb/studies", auth=actors["collaborator"]).json()
    assert [first(s, STUDY_UID) for s in found] == [JANE.StudyInstanceUID, JOHN.StudyInstanceUID]
    assert (first(found[0], "00201206"), first(found[0], "00201208")) == (2, 4)
    instances = client.get("/dicomweb/instances", auth=actors["collaborator"]).json()
    assert len({first(i, SOP_UID) for i in instances}) == len(instances) == 6


def test_dicomweb_client_searches(
    live_server: LiveServer, actors: dict[str, Any], world: str
) -> None:
    session = requests.Session()
    session.auth = actors["collaborator"]
    client = DICOMwebClient(url=f"{live_server.url}/dicomweb/projects/P", session=session)
    studies = client.search_for_studies(search_filters={"PatientName": "Doe*"})
    assert [first(s, STUDY_UID) for s in studies] == [JANE.StudyInstanceUID, JOHN.StudyInstanceUID]
    dated = client.search_for_studies(
        search_filters={"StudyDate": "20240101-20240201", "ModalitiesInStudy": "MR"},
        fields=["StudyDescription"],
    )
    assert [first(s, "00100020") for s in dated] == ["PAT002"] and "00081030" in dated[0]
    fuzzy = client.search_for_studies(search_filters={"PatientName": "DOE^JA"}, fuzzymatching=True)
    assert [first(s, "00100020") for s in fuzzy] == ["PAT001"]
    paged = client.search_for_studies(limit=1, offset=1)
    assert [first(s, "00100020") for s in paged] == ["PAT002"]
    series = client.search_for_series(
        study_instance_uid=JANE.StudyInstanceUID, search_filters={"Modality": "CT"}
    )
    assert [first(s, SERIES_UID) for s in series] == [CT.SeriesInstanceUID]
    every_series = client.search_for_series(search_filters={"SeriesNumber": "1"})
    assert len(every_series) == 2
    instances = client.search_for_instances(
        study_instance_uid=JANE.StudyInstanceUID,
        series_instance_uid=MR.SeriesInstanceUID,
        search_filters={"InstanceNumber": "2"},
    )
    assert [first(i, "00200013") for i in instances] == [2]
    assert len(client.search_for_instances(study_instance_uid=JOHN.StudyInstanceUID)) == 2
    assert client.search_for_studies(search_filters={"PatientID": "nobody"}) == []
    outsider = requests.Session()
    outsider.auth = actors["outsider"]
    site = DICOMwebClient(url=f"{live_server.url}/dicomweb", session=outsider)
    assert site.search_for_studies() == []
    assert site.search_for_instances() == []
