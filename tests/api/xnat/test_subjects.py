"""Projects and subjects under /data: listings in every format, single objects as items
JSON and XML, PUT with the query fields XNAT clients send, DELETE; each checked against
/api/v1, and bad input refused with nothing changed."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from scandepot.context import Context
from tests.conftest import PASSWORD

OWNER = ("owner", PASSWORD)
MEMBER = ("member", PASSWORD)
DEMO = "xnat:subjectData/demographics[@xsi:type=xnat:demographicData]"
FIELD = "xnat:subjectData/fields/field[name={}]/field"


def result(r: Any) -> list[dict[str, str]]:
    assert r.status_code == 200, r.text
    rows: list[dict[str, str]] = r.json()["ResultSet"]["Result"]
    return rows


def v1_subject(client: TestClient, project: str, label: str) -> dict[str, Any]:
    r = client.get(f"/api/v1/projects/{project}/subjects/{label}", auth=OWNER)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def v1_labels(client: TestClient, project: str) -> list[str]:
    r = client.get(f"/api/v1/projects/{project}/subjects", auth=OWNER)
    return sorted(s["label"] for s in r.json()["items"])


def put(client: TestClient, url: str, auth: Any = MEMBER, **query: str) -> Any:
    return client.put(url, params=query, auth=auth)


# -- projects ------------------------------------------------------------------------------


def test_project_listing_shows_what_the_caller_may_see(
    client: TestClient, make_project: Callable[..., str], users: Any
) -> None:
    make_project("private", label="PRIV", name="Private one", description="hidden")
    make_project("public", label="PUB", keywords=["brain", "mri"])
    rows = result(client.get("/data/projects", params={"format": "json"}, auth=MEMBER))
    assert [r["ID"] for r in rows] == ["PRIV", "PUB"]
    assert rows[0] == {
        "ID": "PRIV",
        "secondary_ID": "Private one",
        "name": "Private one",
        "description": "hidden",
        "pi_firstname": "",
        "pi_lastname": "",
        "URI": "/data/projects/PRIV",
    }
    assert [r["ID"] for r in result(client.get("/data/projects?format=json"))] == ["PUB"]
    outsider = client.get("/REST/projects?format=json", auth=("outsider", PASSWORD))
    assert [r["ID"] for r in result(outsider)] == ["PUB"]
    v1 = client.get("/api/v1/projects", auth=MEMBER).json()["items"]
    assert sorted(p["id"] for p in v1) == ["PRIV", "PUB"]


def test_project_listing_formats_and_columns(
    client: TestClient, make_project: Callable[..., str], users: Any
) -> None:
    make_project("public", label="PUB", keywords=["brain", "mri"])
    r = client.get("/data/projects", params={"format": "csv", "columns": "ID,keywords"})
    assert list(csv.reader(io.StringIO(r.text))) == [
        ["ID", "keywords", "URI"],
        ["PUB", "brain mri", "/data/projects/PUB"],
    ]
    xml = ET.fromstring(client.get("/data/projects?format=xml").content)
    assert xml.get("totalRecords") == "1"
    assert "<td>PUB</td>" in client.get("/data/projects").text  # html, the default
    default = client.get("/data/projects", params={"format": "json", "columns": "DEFAULT"})
    assert list(result(default)[0]) == [
        "ID",
        "secondary_ID",
        "name",
        "description",
        "pi_firstname",
        "pi_lastname",
        "URI",
    ]
    bad = client.get("/data/projects", params={"format": "json", "columns": "ID,budget"})
    assert bad.status_code == 400 and "Unknown column: budget." in bad.text


def test_one_project_as_items_and_xml(
    client: TestClient, make_project: Callable[..., str], users: Any
) -> None:
    make_project("private", label="P1", name="Study one", description="about")
    r = client.get("/data/projects/P1", params={"format": "json"}, auth=MEMBER)
    (item,) = r.json()["items"]
    assert item["meta"]["xsi:type"] == "xnat:projectData"
    assert item["data_fields"]["ID"] == "P1"
    assert item["data_fields"]["name"] == "Study one"
    doc = ET.fromstring(client.get("/data/archive/projects/P1", auth=MEMBER).content)
    assert doc.tag == "{http://nrg.wustl.edu/xnat}Project"
    assert doc.get("ID") == "P1" and doc.findtext("{http://nrg.wustl.edu/xnat}name") == "Study one"
    assert client.get("/data/projects/P1?format=json").status_code == 401
    assert (
        client.get("/data/projects/P1?format=json", auth=("outsider", PASSWORD)).status_code == 404
    )
    assert client.get("/data/projects/P1?format=csv", auth=MEMBER).status_code == 400


# -- subjects: create, change, read back ---------------------------------------------------


def test_put_creates_then_changes_a_subject(
    client: TestClient, make_project: Callable[..., str], users: Any
) -> None:
    make_project("private", label="P1")
    url = "/data/projects/P1/subjects/S1"
    r = put(client, url, xsiType="xnat:subjectData", **{"xnat:subjectData/label": "S1"})
    assert r.status_code == 201
    subject_id = r.text
    assert subject_id == v1_subject(client, "P1", "S1")["id"]
    query = {
        "xsiType": "xnat:subjectData",
        f"{DEMO}/gender": "female",
        f"{DEMO}/yob": "1980",
        "age": "44",
        "group": "control",
        FIELD.format("site"): "Leiden",
        FIELD.format("visit_count"): "2",
    }
    r = put(client, f"/data/projects/P1/subjects/{subject_id}", **query)
    assert (r.status_code, r.text) == (200, subject_id)
    v1 = v1_subject(client, "P1", "S1")
    assert (v1["sex"], v1["birth_year"], v1["age"], v1["group"]) == ("female", 1980, 44, "control")
    assert v1["fields"] == {"site": "Leiden", "visit_count": "2"}
    # One field changed, one removed (NULL, as xnatpy's del sends), the others kept.
    put(client, url, **{FIELD.format("site"): "Utrecht", FIELD.format("visit_count"): "NULL"})
    assert v1_subject(client, "P1", "S1")["fields"] == {"site": "Utrecht"}
    # A PUT on an existing label changes it, as in XNAT; it creates nothing.
    r = put(client, url, xsiType="xnat:subjectData")
    assert (r.status_code, r.text) == (200, subject_id)
    assert v1_labels(client, "P1") == ["S1"]


def test_subject_read_back_by_label_id_and_site_wide_id(
    client: TestClient, make_project: Callable[..., str], users: Any
) -> None:
    make_project("private", label="P1")
    sid = put(client, "/data/projects/P1/subjects/S1", gender="M", yob="1970").text
    put(client, "/data/projects/P1/subjects/S1", **{FIELD.format("site"): "A"})
    for url in (
        "/data/projects/P1/subjects/S1",
        f"/data/projects/P1/subjects/{sid}",
        f"/data/subjects/{sid}",
        f"/REST/subjects/{sid}",
        "/data/archive/projects/P1/subjects/s1",
    ):
        (item,) = client.get(url, params={"format": "json"}, auth=MEMBER).json()["items"]
        assert item["data_fields"] == {"ID": sid, "project": "P1", "label": "S1"}, url
        children = {c["field"]: c["items"] for c in item["children"]}
        assert children["demographics"][0]["data_fields"] == {"gender": "male", "yob": 1970}
        assert children["fields/field"][0]["data_fields"] == {"field": "A", "name": "site"}
    doc = ET.fromstring(client.get(f"/data/subjects/{sid}", auth=MEMBER).content)
    x = "{http://nrg.wustl.edu/xnat}"
    assert doc.tag == f"{x}Subject" and doc.get("label") == "S1"
    demographics = doc.find(f"{x}demographics")
    assert demographics is not None and demographics.findtext(f"{x}gender") == "male"
    assert demographics.get("{http://www.w3.org/2001/XMLSchema-instance}type") == (
        "xnat:demographicData"
    )
    assert doc.find(f"{x}fields/{x}field[@name='site']") is not None
    # By site-wide ID, what the caller may not see answers as what does not exist: a
    # guest is asked to sign in for both, a signed-in caller finds neither.
    assert client.get(f"/data/subjects/{sid}?format=json").status_code == 401
    assert client.get("/data/subjects/SD_S99999?format=json").status_code == 401
    outsider = client.get(f"/data/subjects/{sid}?format=json", auth=("outsider", PASSWORD))
    assert outsider.status_code == 404
    missing = client.get("/data/subjects/SD_S99999?format=json", auth=MEMBER)
    assert missing.status_code == 404


def test_subject_listings_and_columns(
    client: TestClient, make_project: Callable[..., str], users: Any
) -> None:
    make_project("private", label="P1")
    make_project("private", label="P2")
    sid = put(client, "/data/projects/P1/subjects/S1", gender="female", age="30").text
    put(client, "/data/projects/P1/subjects/S1", **{FIELD.format("site"): "Leiden"})
    put(client, "/data/projects/P2/subjects/S9", auth=OWNER)
    rows = result(client.get("/data/projects/P1/subjects?format=json", auth=MEMBER))
    assert [(r["ID"], r["label"], r["project"], r["URI"]) for r in rows] == [
        (sid, "S1", "P1", f"/data/subjects/{sid}")
    ]
    assert list(rows[0]) == ["ID", "project", "label", "insert_date", "insert_user", "URI"]
    # pyxnat's attrs.get asks the listing for the XPath and finds the column by it.
    wanted = f"ID,{DEMO}/gender,{FIELD.format('site')},age,label"
    params = {"format": "json", "columns": wanted}
    r = client.get("/data/projects/P1/subjects", params=params, auth=MEMBER)
    assert result(r) == [
        {
            "ID": sid,
            f"{DEMO}/gender": "female",
            FIELD.format("site"): "Leiden",
            "age": "30",
            "label": "S1",
            "URI": f"/data/subjects/{sid}",
        }
    ]
    site_wide = result(client.get("/data/subjects?format=json", auth=MEMBER))
    assert sorted(r["label"] for r in site_wide) == ["S1", "S9"]
    # An outsider reads neither private project: no row, not even a count.
    csv_rows = client.get("/data/subjects?format=csv&columns=label", auth=("outsider", PASSWORD))
    assert csv_rows.text.splitlines() == ["label,URI"]
    bad = client.get("/data/subjects?format=json&columns=label,dob", auth=MEMBER)
    assert bad.status_code == 400 and "Unknown column: dob." in bad.text


def test_subject_listing_is_one_query_whatever_its_size(
    client: TestClient, ctx: Context, make_project: Callable[..., str], users: Any
) -> None:
    make_project("private", label="P1")
    for n in range(3):
        put(client, f"/data/projects/P1/subjects/S{n}", age=str(n))

    def statements() -> int:
        with count_statements(ctx) as counted:
            r = client.get(
                "/data/projects/P1/subjects?format=json&columns=ID,label,age", auth=MEMBER
            )
            assert r.status_code == 200
        return len(counted)

    few = statements()
    for n in range(3, 40):
        put(client, f"/data/projects/P1/subjects/S{n}", gender="male")
    assert statements() == few


@contextmanager
def count_statements(ctx: Context) -> Iterator[list[str]]:
    seen: list[str] = []

    def listen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    event.listen(ctx.db.engine, "before_cursor_execute", listen)
    try:
        yield seen
    finally:
        event.remove(ctx.db.engine, "before_cursor_execute", listen)


# -- bad input, and what the caller may not do --------------------------------------------


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"xsiType": "xnat:mrSessionData"}, "Unknown xsiType &#x27;xnat:mrSessionData&#x27;"),
        ({"xnat:subjectData/src": "x"}, "Unknown field &#x27;xnat:subjectData/src&#x27;"),
        ({f"{DEMO}/handedness": "left"}, "handedness"),
        ({"dob": "1970-01-01"}, "Unknown field &#x27;dob&#x27;"),
        ({"gender": "yes"}, "gender must be male, female, other or unknown"),
        ({"age": "old"}, "age must be a whole number"),
        ({"age": "200"}, "age"),
        ({FIELD.format("bad name"): "x"}, "fields must be letters"),
        ({"xnat:subjectData/ID": "SD_S77777"}, "ID cannot be modified."),
        ({"project": "P2"}, "Project must be modified through separate URI."),
    ],
)
def test_put_refuses_what_a_subject_does_not_have(
    client: TestClient,
    make_project: Callable[..., str],
    users: Any,
    query: dict[str, str],
    message: str,
) -> None:
    make_project("private", label="P1")
    r = put(client, "/data/projects/P1/subjects/S1", **query)
    assert r.status_code == 400 and message in r.text, r.text
    assert v1_labels(client, "P1") == []  # nothing half-created


def test_put_refuses_labels_breaking_the_rules(
    client: TestClient, make_project: Callable[..., str], users: Any
) -> None:
    make_project("private", label="P1")
    assert put(client, "/data/projects/P1/subjects/bad.label").status_code == 400
    assert put(client, "/data/projects/P1/subjects/S1", label="no spaces").status_code == 400
    assert v1_labels(client, "P1") == []


def test_relabel_onto_an_existing_label_is_a_conflict(
    client: TestClient, make_project: Callable[..., str], users: Any
) -> None:
    make_project("private", label="P1")
    put(client, "/data/projects/P1/subjects/S1")
    put(client, "/data/projects/P1/subjects/S2")
    r = put(client, "/data/projects/P1/subjects/S2", label="s1", gender="male")
    assert r.status_code == 409
    assert v1_subject(client, "P1", "S2")["sex"] is None
    r = put(client, "/data/projects/P1/subjects/S2", label="S3")
    assert r.status_code == 200 and v1_labels(client, "P1") == ["S1", "S3"]


def test_put_on_a_project_the_caller_may_only_read(
    client: TestClient, make_project: Callable[..., str], users: Any
) -> None:
    make_project("private", label="P1")
    make_project("public", label="PUB")
    put(client, "/data/projects/P1/subjects/S1", gender="female")
    collaborator = ("collaborator", PASSWORD)
    assert (
        put(client, "/data/projects/P1/subjects/S1", collaborator, gender="male").status_code == 403
    )
    assert put(client, "/data/projects/P1/subjects/S2", collaborator).status_code == 403
    assert put(client, "/data/projects/PUB/subjects/S1", ("outsider", PASSWORD)).status_code == 403
    assert put(client, "/data/projects/PUB/subjects/S1", None).status_code == 401
    assert v1_subject(client, "P1", "S1")["sex"] == "female"
    assert v1_labels(client, "P1") == ["S1"] and v1_labels(client, "PUB") == []


def test_delete_with_remove_files(
    client: TestClient, make_project: Callable[..., str], users: Any
) -> None:
    make_project("private", label="P1")
    sid = put(client, "/data/projects/P1/subjects/S1").text
    r = client.delete(f"/data/projects/P1/subjects/{sid}?removeFiles=true", auth=MEMBER)
    assert r.status_code == 403 and v1_labels(client, "P1") == ["S1"]
    r = client.delete("/data/archive/projects/P1/subjects/S1?removeFiles=true", auth=OWNER)
    assert r.status_code == 200 and v1_labels(client, "P1") == []
    assert client.delete("/data/projects/P1/subjects/S1", auth=OWNER).status_code == 404
