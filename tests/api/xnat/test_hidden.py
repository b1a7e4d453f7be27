"""What a caller may not read never shows up under /data: not in a site-wide listing, a
project's listings, a search, or a count, in any format, for anyone who lacks the right."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from scandepot.access.actors import SYSTEM
from scandepot.archive import resources, sessions, subjects
from scandepot.archive.resources import OwnerRef, ResourceCreate
from scandepot.archive.sessions import SessionCreate
from scandepot.archive.subjects import SubjectCreate
from scandepot.context import Context
from tests.conftest import PASSWORD

LISTINGS = (
    "/data/projects",
    "/data/subjects",
    "/data/experiments",
    "/data/prearchive/projects",
    "/data/projects/OPEN/subjects",
    "/data/projects/OPEN/experiments",
)
SEARCH = """<?xml version="1.0" encoding="UTF-8"?>
<xdat:search xmlns:xdat="http://nrg.wustl.edu/security" allow-diff-columns="0">
<xdat:root_element_name>{element}</xdat:root_element_name>
<xdat:search_field><xdat:element_name>{element}</xdat:element_name>
<xdat:field_ID>{field}</xdat:field_ID><xdat:sequence>0</xdat:sequence>
<xdat:type>string</xdat:type></xdat:search_field>
<xdat:search_where method="AND"><xdat:criteria override_value_formatting="0">
<xdat:schema_field>{element}/{field}</xdat:schema_field>
<xdat:comparison_type>LIKE</xdat:comparison_type><xdat:value>%</xdat:value>
</xdat:criteria></xdat:search_where></xdat:search>"""


def _tree(ctx: Context, project: str, prefix: str) -> list[str]:
    """A subject, a session and a resource in ``project``; the words that name them."""
    subject = subjects.create(ctx, SYSTEM, project, SubjectCreate(label=f"{prefix}SUBJ"))
    session = sessions.create(
        ctx,
        SYSTEM,
        project,
        SessionCreate(label=f"{prefix}SESS", subject=f"{prefix}SUBJ", modality="MR"),
    )
    resources.create(
        ctx, SYSTEM, OwnerRef(project, subject=f"{prefix}SUBJ"), ResourceCreate(label="CLIN")
    )
    return [project, subject.label, subject.stable_id, session.label, session.stable_id]


@pytest.fixture
def hidden(ctx: Context, make_project: Any) -> list[str]:
    make_project("public", label="OPEN")
    _tree(ctx, "OPEN", "OPEN")
    make_project("private", label="HIDDEN")
    return _tree(ctx, "HIDDEN", "SECRET")


@pytest.mark.parametrize("who", ["anonymous", "outsider"])
@pytest.mark.parametrize("fmt", ["json", "csv", "xml", "html"])
def test_listings_and_searches_leave_out_what_the_caller_may_not_read(
    client: TestClient, hidden: list[str], who: str, fmt: str
) -> None:
    auth = None if who == "anonymous" else (who, PASSWORD)
    answers = [client.get(url, params={"format": fmt}, auth=auth) for url in LISTINGS]
    for element, field in (
        ("xnat:projectData", "ID"),
        ("xnat:subjectData", "SUBJECT_LABEL"),
        ("xnat:mrSessionData", "LABEL"),
    ):
        body = SEARCH.format(element=element, field=field).encode()
        answers.append(client.post("/data/search", params={"format": fmt}, content=body, auth=auth))
    for r in answers:
        if who == "anonymous" and "/prearchive/" in r.request.url.path:
            assert r.status_code == 401  # the prearchive is for the signed-in only
            continue
        assert r.status_code == 200, (r.request.url, r.text)
        for word in hidden:
            assert word not in r.text, (r.request.url, word)
    # What the caller may read is there, so the leaving out is the permission check's.
    assert "OPENSUBJ" in answers[LISTINGS.index("/data/subjects")].text
    assert "OPENSESS" in answers[LISTINGS.index("/data/experiments")].text


def test_counts_are_of_what_the_caller_may_read(
    client: TestClient, hidden: list[str], users: Any
) -> None:
    def total(url: str, auth: Any) -> int:
        r = client.get(url, params={"format": "json"}, auth=auth)
        return int(r.json()["ResultSet"]["totalRecords"])

    outsider, admin = ("outsider", PASSWORD), ("admin", PASSWORD)
    assert total("/data/experiments", outsider) == 1
    assert total("/data/experiments", admin) == 2
    assert total("/data/subjects", outsider) == 1
    assert total("/data/projects", outsider) == 1
    # Asked by name, the hidden objects do not exist for the outsider.
    for url in ("/data/projects/HIDDEN", f"/data/experiments/{hidden[4]}"):
        assert client.get(url, params={"format": "json"}, auth=outsider).status_code == 404
    assert client.get(f"/data/subjects/{hidden[2]}", auth=outsider).status_code == 404
