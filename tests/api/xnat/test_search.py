"""``POST /data/search``: the documents pyxnat and xnatpy write, answered as XNAT answers
them, each result checked against /api/v1; bad documents refused by name."""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
from typing import Any

import pytest
from fastapi.testclient import TestClient

from scandepot.context import Context
from tests.conftest import PASSWORD
from tests.search.world import World, build

MR = "xnat:mrSessionData"
MEMBER = ("member", PASSWORD)


@pytest.fixture
def world(ctx: Context, make_project: Any, users: Any) -> World:
    return build(ctx, make_project)


def pyxnat_document(row: str, columns: list[str], constraints: list[Any]) -> bytes:
    """The document pyxnat's ``select(row, columns).where(constraints)`` posts."""
    from pyxnat.core.search import build_search_document

    document: bytes = build_search_document(row, columns, constraints)
    return document


def xnatpy_document(constraints: Any, *fields: str, xsi_type: str = MR) -> bytes:
    """The document xnatpy's ``MrSessionData.query().filter(...)`` posts (its Query, with
    a stand-in for the class its connect builds from the schema)."""
    from xnat import search

    class Queried:
        __xsi_type__ = xsi_type
        fieldname = None
        parent = None
        DEFAULT_SEARCH_FIELDS = None

    columns = [search.SearchField(Queried, f, "xs:string") for f in fields]
    query = search.Query(Queried, None, columns).filter(constraints(Queried, search))
    document: bytes = query.to_string()
    return document


def post(client: TestClient, body: bytes, fmt: str = "csv", auth: Any = MEMBER) -> Any:
    return client.post("/data/search", params={"format": fmt}, content=body, auth=auth)


def said(r: Any) -> str:
    """The message of XNAT's status page."""
    return html.unescape(r.text.split("<h3>", 1)[-1].split("</h3>", 1)[0])


def rows_of(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def v1_sessions(client: TestClient, project: str, auth: Any = MEMBER) -> list[dict[str, Any]]:
    r = client.get(f"/api/v1/projects/{project}/sessions", params={"limit": 1000}, auth=auth)
    assert r.status_code == 200
    items: list[dict[str, Any]] = r.json()["items"]
    return items


def test_pyxnat_search_as_csv_matches_the_native_listing(client: TestClient, world: World) -> None:
    columns = [f"{MR}/SESSION_ID", f"{MR}/SUBJECT_ID", f"{MR}/LABEL", f"{MR}/DATE"]
    document = pyxnat_document(MR, columns, [(f"{MR}/PROJECT", "=", "ALPHA"), "AND"])
    r = post(client, document)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    found = rows_of(r.text)
    expected = [
        {
            "session_id": s["id"],
            "subject_id": s["subject_id"],
            "label": s["label"],
            "date": s["date"],
        }
        for s in v1_sessions(client, "ALPHA")
        if s["modality"] == "MR"
    ]
    assert found == sorted(expected, key=lambda s: s["session_id"]) and len(found) == 2


def test_formats(client: TestClient, world: World) -> None:
    document = pyxnat_document(
        MR, [f"{MR}/LABEL", "xnat:subjectData/SUBJECT_LABEL"], [(f"{MR}/LABEL", "=", "a1"), "AND"]
    )
    body = post(client, document, "json").json()["ResultSet"]
    assert body["Result"] == [{"label": "a1", "xnat_subjectdata_subject_label": "s1"}]
    assert body["totalRecords"] == "1"
    xml = post(client, document, "xml").text
    assert "<column>xnat_subjectdata_subject_label</column>" in xml and "<cell>a1</cell>" in xml
    assert "<td>a1</td>" in post(client, document, "html").text
    r = post(client, document, "yaml")
    assert r.status_code == 400 and "Unknown format 'yaml'" in said(r)


def test_pyxnat_and_or_nesting(client: TestClient, world: World) -> None:
    constraints = [
        (f"{MR}/PROJECT", "=", "ALPHA"),
        [(f"{MR}/DATE", "<", "2021-01-01"), (f"{MR}/LABEL", "LIKE", "*3"), "OR"],
        "AND",
    ]
    found = rows_of(post(client, pyxnat_document(MR, [f"{MR}/LABEL"], constraints)).text)
    assert [row["label"] for row in found] == ["a1", "a3"]


def test_xnatpy_query_document(client: TestClient, world: World) -> None:
    def constraints(cls: Any, search: Any) -> Any:
        label = search.SearchField(cls, "label")
        date = search.SearchField(cls, "date")
        return search.or_(label.like("b%"), date > dt.date(2021, 1, 1))

    document = xnatpy_document(constraints, "ID", "project", "subject_ID")
    found = rows_of(post(client, document).text)
    # xnatpy builds each object's URL from these three columns.
    assert list(found[0]) == ["session_id", "project", "subject_id"]
    by_id = {s["id"]: s for p in ("ALPHA", "BETA") for s in v1_sessions(client, p)}
    assert [by_id[row["session_id"]]["label"] for row in found] == ["a3", "b1"]
    assert all(by_id[r["session_id"]]["subject_id"] == r["subject_id"] for r in found)


def test_xnatpy_custom_field_criterion(client: TestClient, ctx: Context, world: World) -> None:
    from scandepot.access.actors import SYSTEM
    from scandepot.archive import subjects
    from scandepot.archive.subjects import SubjectFields

    subjects.update(ctx, SYSTEM, "ALPHA", "s1", SubjectFields(fields={"grant": "R01"}))

    def constraints(cls: Any, search: Any) -> Any:
        return search.SearchFieldMap("xnat:subjectData")["grant"] == "R01"

    document = xnatpy_document(constraints, "ID", "label", xsi_type="xnat:subjectData")
    found = rows_of(post(client, document).text)
    assert found == [{"subject_id": world.subjects["s1"], "subject_label": "s1"}]


def test_a_member_of_one_project_finds_nothing_of_another(client: TestClient, world: World) -> None:
    document = pyxnat_document(
        MR, [f"{MR}/LABEL", f"{MR}/PROJECT"], [(f"{MR}/LABEL", "LIKE", "%"), "AND"]
    )
    outsider = ("outsider", PASSWORD)
    found = rows_of(post(client, document, auth=outsider).text)
    visible = [s["label"] for p in ("ALPHA", "GAMMA") for s in v1_sessions(client, p, outsider)]
    assert client.get("/api/v1/projects/BETA/sessions", auth=outsider).status_code == 404
    assert sorted(row["label"] for row in found) == sorted(
        s
        for s in visible
        if s != "a2"  # a CT session
    )
    named = pyxnat_document(MR, [f"{MR}/LABEL"], [(f"{MR}/PROJECT", "=", "BETA"), "AND"])
    r = post(client, named, "json", auth=outsider)
    assert r.json()["ResultSet"] == {"Result": [], "totalRecords": "0", "title": MR}
    anonymous = rows_of(post(client, document, auth=None).text)
    assert [row["label"] for row in anonymous] == ["c1"]  # the public project's


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (b"<xdat:bundle xmlns:xdat='http://nrg.wustl.edu/security'>", "Malformed search XML"),
        (b"", "Send an xdat:search document"),
        (
            b'<?xml version="1.0"?><!DOCTYPE lol [<!ENTITY a "aaaaaaaa">'
            b'<!ENTITY b "&a;&a;&a;&a;&a;&a;">]><bundle>&b;</bundle>',
            "A document type declaration is not accepted",
        ),
        (b"<results/>", "root is 'results'"),
        (b"<bundle/>", "names no root_element_name"),
    ],
)
def test_malformed_documents(client: TestClient, users: Any, document: bytes, message: str) -> None:
    r = post(client, document)
    assert r.status_code == 400 and message in said(r) and "<h3>" in r.text


@pytest.mark.parametrize(
    ("row", "columns", "constraints", "message"),
    [
        ("xnat:fooData", ["xnat:fooData/ID"], [], "Unknown element 'xnat:fooData'"),
        (MR, [f"{MR}/SHOE_SIZE"], [], "Unknown field 'xnat:mrSessionData/SHOE_SIZE'"),
        (
            MR,
            [f"{MR}/LABEL"],
            [(f"{MR}/LABEL", "~", "x"), "AND"],
            "Unknown comparison '~'",
        ),
        (
            MR,
            [f"{MR}/LABEL"],
            [(f"{MR}/DATE", ">", "soon"), "AND"],
            "'soon' is not a date",
        ),
        (MR, [f"{MR}/LABEL"], [(f"{MR}/LABEL", "=", "x"), "XOR"], "Unknown method 'XOR'"),
        (
            "xnat:subjectData",
            ["xnat:subjectData/LABEL"],
            [(f"{MR}/LABEL", "=", "x"), "AND"],
            "Fields of 'xnat:mrSessionData' cannot be used in a search of",
        ),
    ],
)
def test_unknown_names(
    client: TestClient,
    users: Any,
    row: str,
    columns: list[str],
    constraints: list[Any],
    message: str,
) -> None:
    r = post(client, pyxnat_document(row, columns, constraints))
    assert r.status_code == 400 and message in said(r)


def test_every_listed_field_is_searchable(client: TestClient, world: World) -> None:
    listed = client.get("/data/search/elements", params={"format": "json"}).json()
    for element in (e["ELEMENT_NAME"] for e in listed["ResultSet"]["Result"]):
        r = client.get(f"/data/search/elements/{element}", params={"format": "json"})
        fields = [f"{element}/{f['FIELD_ID']}" for f in r.json()["ResultSet"]["Result"]]
        r = post(client, pyxnat_document(element, fields, [(fields[0], "IS NOT NULL", ""), "AND"]))
        assert r.status_code == 200, (element, r.text)


@pytest.mark.interop
def test_pyxnat_select_where(pyxnat_interface: Any, client: TestClient, world: World) -> None:
    interface = pyxnat_interface("member")
    columns = [f"{MR}/SESSION_ID", f"{MR}/SUBJECT_ID", f"{MR}/LABEL", "xnat:subjectData/AGE"]
    constraints = [
        (f"{MR}/PROJECT", "=", "ALPHA"),
        [(f"{MR}/DATE", "<", "2021-01-01"), ("xnat:subjectData/AGE", ">", "40"), "OR"],
        "AND",
    ]
    table = interface.select(MR, columns).where(constraints)
    assert list(table.headers()) == ["session_id", "subject_id", "label", "xnat_subjectdata_age"]
    expected = {s["id"]: s for s in v1_sessions(client, "ALPHA")}
    assert [row["label"] for row in table] == ["a1", "a3"]
    for row in table:
        assert expected[row["session_id"]]["subject_id"] == row["subject_id"]
    # The subjects' ID column pyxnat's Collection.where reads back.
    subjects = interface.select("xnat:subjectData", ["xnat:subjectData/SUBJECT_ID"]).where(
        [("xnat:subjectData/GENDER_TEXT", "=", "female"), "AND"]
    )
    assert subjects["subject_id"] == [world.subjects["s2"], world.subjects["t1"]]
    everything = interface.select(MR, [f"{MR}/LABEL"]).all()
    assert sorted(everything["label"]) == ["a1", "a3", "b1", "c1"]


@pytest.mark.interop
def test_xnatpy_query(xnatpy: Any, client: TestClient, world: World) -> None:
    session = xnatpy("outsider")
    sessions = session.classes.MrSessionData
    query = sessions.query().filter(
        sessions.label.like("%1") | (sessions.date > dt.date(2021, 1, 1))
    )
    rows = query.tabulate_dict()
    # A member of ALPHA only: BETA's b1 is not there.
    assert [r["session_id"] for r in rows] == [world.sessions[s] for s in ("a1", "a3", "c1")]
    assert {r["project"] for r in rows} == {"ALPHA", "GAMMA"}
    v1 = {s["id"]: s for s in v1_sessions(client, "ALPHA", ("outsider", PASSWORD))}
    assert v1[rows[0]["session_id"]]["subject_id"] == rows[0]["subject_id"]
    # The display fields listed on connect work as search fields too.
    rows = sessions.query().filter(sessions.SCANNER == "SCAN2").tabulate_dict()
    assert [r["session_id"] for r in rows] == [world.sessions["c1"]]


READERS = {
    "private": {"collaborator", "member", "owner", "admin"},
    "protected": {"collaborator", "member", "owner", "admin"},
    "public": {"anonymous", "outsider", "collaborator", "member", "owner", "admin"},
}
SEERS = {**READERS, "protected": READERS["protected"] | {"outsider"}}


@pytest.mark.parametrize("accessibility", ["private", "protected", "public"])
def test_rows_and_counts_follow_the_permission_check(
    client: TestClient, ctx: Context, make_project: Any, actors: Any, accessibility: str
) -> None:
    from scandepot.access.actors import SYSTEM
    from scandepot.archive import sessions, subjects
    from scandepot.archive.sessions import SessionCreate
    from scandepot.archive.subjects import SubjectCreate

    project = make_project(accessibility)
    subjects.create(ctx, SYSTEM, project, SubjectCreate(label="S1"))
    sessions.create(ctx, SYSTEM, project, SessionCreate(label="E1", subject="S1", modality="MR"))
    everything = [(f"{MR}/LABEL", "LIKE", "%"), "AND"]
    searches = {
        MR: (pyxnat_document(MR, [f"{MR}/LABEL"], everything), READERS),
        "xnat:subjectData": (pyxnat_document("xnat:subjectData", [], []), READERS),
        "xnat:projectData": (pyxnat_document("xnat:projectData", [], []), SEERS),
    }
    for name, auth in actors.items():
        for element, (document, allowed) in searches.items():
            found = post(client, document, "json", auth=auth).json()["ResultSet"]
            expected = 1 if name in allowed[accessibility] else 0
            assert found["totalRecords"] == str(expected), (element, name)
            assert len(found["Result"]) == expected


def test_thousands_of_criteria_as_pyxnat_sends_them(client: TestClient, world: World) -> None:
    subject = "xnat:subjectData"
    ids = [f"SD_X{n:05d}" for n in range(4000)] + [world.subjects["t1"]]
    alternatives: list[Any] = [(f"{subject}/SUBJECT_ID", "=", i) for i in ids]
    document = pyxnat_document(subject, [f"{subject}/SUBJECT_ID"], [[*alternatives, "OR"], "AND"])
    assert len(document) < 1 << 20
    found = rows_of(post(client, document, auth=("admin", PASSWORD)).text)
    assert [row["subject_id"] for row in found] == [world.subjects["t1"]]
    r = post(client, document + b" " * (1 << 20))
    assert r.status_code == 413


@pytest.mark.interop
def test_pyxnat_collection_where_and_printing(pyxnat_interface: Any, world: World) -> None:
    """Collection.where searches twice and keeps the subjects the caller may read;
    printing a subject or a project searches for XNAT's display fields. (pyxnat reads a
    one-row answer's column as text, not a list: each criterion here finds two or more.)"""
    criteria = [(f"{MR}/DATE", ">=", "2020-01-01"), "AND"]
    for login, expected in (("member", ["s1", "s2", "t1"]), ("outsider", ["s1", "s2"])):
        interface = pyxnat_interface(login)
        found = interface.select("/projects/ALPHA/subjects").where(criteria)
        assert [s.id() for s in found] == [world.subjects[s] for s in expected]
    interface = pyxnat_interface("member")
    printed = repr(interface.select.project("ALPHA").subject(world.subjects["s1"]))
    assert f"{world.subjects['s1']} `s1` (project: ALPHA) (Age: 30 - Gender: male)" in printed
    printed = repr(interface.select.project("ALPHA"))
    assert "ALPHA `ALPHA` (private) 2 subjects 2 MR experiments 1 CT experiment" in printed
