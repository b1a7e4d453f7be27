"""xnatpy and pyxnat, unchanged, on projects and subjects: list, create, set custom
fields and demographics, read them back, delete; each result checked against /api/v1."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.conftest import PASSWORD

pytestmark = pytest.mark.interop

DEMO = "xnat:subjectData/demographics[@xsi:type=xnat:demographicData]"


def v1(server: str, path: str) -> Any:
    r = httpx.get(f"{server}/api/v1{path}", auth=("owner", PASSWORD))
    assert r.status_code == 200, r.text
    return r.json()


def test_xnatpy_lists_creates_sets_and_deletes(
    xnatpy: Callable[..., Any], xnat_server: str, make_project: Callable[..., str]
) -> None:
    make_project("private", label="PX", name="Project X")
    make_project("public", label="PUB")
    session = xnatpy("owner")
    assert sorted(session.projects.keys()) == ["PUB", "PX"]
    project = session.projects["PX"]
    assert project.name == "Project X"
    subject = session.classes.SubjectData(parent=project, label="S1")
    subject.demographics.gender = "female"
    subject.demographics.age = 42
    subject.demographics.yob = 1982
    subject.fields["site"] = "Leiden"
    subject.fields["arm"] = "B"
    subject.group = "patients"

    got = v1(xnat_server, "/projects/PX/subjects/S1")
    assert got["id"] == subject.id
    assert (got["sex"], got["age"], got["birth_year"]) == ("female", 42, 1982)
    assert (got["group"], got["fields"]) == ("patients", {"arm": "B", "site": "Leiden"})

    # Read back on a fresh connection, as a script run later would.
    again = xnatpy("member")
    listed = again.projects["PX"].subjects
    assert [s.label for s in listed.values()] == ["S1"]
    read = listed["S1"]
    assert read.id == got["id"] and read.project == "PX"
    assert read.demographics.gender == "female" and read.demographics.age == 42
    assert read.demographics.yob == 1982 and read.group == "patients"
    assert dict(read.fields) == {"arm": "B", "site": "Leiden"}
    assert again.subjects[got["id"]].label == "S1"

    del read.fields["arm"]
    assert v1(xnat_server, "/projects/PX/subjects/S1")["fields"] == {"site": "Leiden"}

    project.clearcache()
    session.projects["PX"].subjects["S1"].delete()
    assert v1(xnat_server, "/projects/PX/subjects")["items"] == []


def test_pyxnat_select_create_and_attrs(
    pyxnat_interface: Callable[..., Any], xnat_server: str, make_project: Callable[..., str]
) -> None:
    make_project("private", label="PX")
    interface = pyxnat_interface("member")
    assert interface.select("/projects").get() == ["PX"]
    project = interface.select.project("PX")
    assert project.exists()
    subject = project.subject("S2")
    assert not subject.exists()
    subject.create()
    assert subject.exists()
    assert subject.label() == "S2"
    subject_id = v1(xnat_server, "/projects/PX/subjects/S2")["id"]
    assert subject.id() == subject_id
    assert project.subjects().get() == [subject_id]

    subject.attrs.set(f"{DEMO}/gender", "male")
    subject.attrs.mset(
        {
            "xnat:subjectData/fields/field[name=site]/field": "Utrecht",
            f"{DEMO}/yob": "1975",
            "xnat:subjectData/group": "control",
        }
    )
    got = v1(xnat_server, "/projects/PX/subjects/S2")
    assert (got["sex"], got["birth_year"], got["group"]) == ("male", 1975, "control")
    assert got["fields"] == {"site": "Utrecht"}
    assert subject.attrs.get(f"{DEMO}/gender") == "male"
    assert subject.attrs.get("xnat:subjectData/fields/field[name=site]/field") == "Utrecht"
    assert subject.attrs.mget([f"{DEMO}/yob", "xnat:subjectData/group"]) == ["1975", "control"]


def test_xnatpy_as_a_guest_lists_public_projects(
    xnat_server: str, make_project: Callable[..., str]
) -> None:
    import logging

    import xnat

    make_project("private", label="PX")
    make_project("public", label="PUB")
    session = xnat.connect(xnat_server, logger=logging.getLogger("xnatpy-guest"))
    try:
        assert list(session.projects.keys()) == ["PUB"]
        assert list(session.projects["PUB"].subjects.keys()) == []
    finally:
        session.disconnect()
