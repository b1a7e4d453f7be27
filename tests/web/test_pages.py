"""The pages without a browser, on both catalogs: CSRF, signing in, what each page shows
and to whom, errors as pages. Who may open each page and send each form, for every actor
and accessibility: tests/access/test_matrix.py, beside the API's routes.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select, update

from scandepot.access.actors import SYSTEM
from scandepot.archive import files, projects
from scandepot.archive.resources import OwnerRef
from scandepot.catalog.access import User
from scandepot.catalog.archive import Project
from scandepot.catalog.pipelines import Job
from scandepot.context import Context
from scandepot.web.deps import get_visitor
from tests.access.test_matrix import build_world, job_id
from tests.conftest import PASSWORD

P = "/projects/P"
E = P + "/sessions/E1"


@pytest.fixture
def world(ctx: Context, users: dict[str, User], password_hash: str) -> Any:
    with ctx.db.write() as db:
        db.add(User(login="spare", full_name="Spare", password_hash=password_hash))

    return lambda accessibility: build_world(ctx, accessibility)


def _signed_in(client: TestClient, login: str) -> str:
    """Sign in through the form; returns the page's CSRF token."""
    client.cookies.clear()
    assert client.get("/login").status_code == 200
    r = client.post(
        "/login",
        data={
            "login": login,
            "password": PASSWORD,
            "login_token": client.cookies["scandepot_login"],
            "next": "/projects",
        },
        follow_redirects=False,
    )
    assert (r.status_code, r.headers["location"]) == (303, "/projects")
    page = client.get("/").text
    found = re.search(r'name="csrf-token" content="([^"]+)"', page)
    assert found is not None
    return found.group(1)


def test_forms_need_the_csrf_token(ctx: Context, client: TestClient, world: Any) -> None:
    world("private")
    token = _signed_in(client, "owner")
    r = client.post(P + "/settings", data={"name": "Renamed"}, follow_redirects=False)
    assert r.status_code == 403 and "CSRF" in r.text
    r = client.post(
        P + "/settings", data={"name": "Renamed", "csrf_token": "wrong"}, follow_redirects=False
    )
    assert r.status_code == 403
    assert projects.get(ctx, SYSTEM, "P").project.name == "P"
    r = client.post(P + "/settings", data={"name": "Renamed", "csrf_token": token})
    assert r.status_code == 200 and "The project settings are saved." in r.text
    assert projects.get(ctx, SYSTEM, "P").project.name == "Renamed"


def test_sign_in_needs_the_form_cookie_and_shows_errors_in_words(
    client: TestClient, users: dict[str, User]
) -> None:
    client.get("/login")
    form = {"login": "owner", "password": "wrong", "next": "/"}
    r = client.post("/login", data={**form, "login_token": "forged"})
    assert r.status_code == 403
    r = client.post("/login", data={**form, "login_token": client.cookies["scandepot_login"]})
    assert r.status_code == 401 and "Invalid credentials." in r.text
    # A sign-in never sends people to another site.
    r = client.post(
        "/login",
        data={
            **form,
            "password": PASSWORD,
            "next": "//evil.example/",
            "login_token": client.cookies["scandepot_login"],
        },
        follow_redirects=False,
    )
    assert r.headers["location"] == "/"


def test_collaborator_sees_no_manage_tab_and_outsider_no_private_project(
    ctx: Context, client: TestClient, actors: dict[str, Any], world: Any, make_project: Any
) -> None:
    world("private")
    make_project("public", label="OPEN")
    tabs = re.compile(r'<nav class="tabs".*?</nav>', re.S)
    for name, manage in [("collaborator", False), ("member", False), ("owner", True)]:
        page = client.get(P, auth=actors[name]).text
        [nav] = tabs.findall(page)
        assert ("?tab=manage" in nav) is manage, name
        assert "?tab=access" in nav and "?tab=pipelines" in nav
    for url in ("/", "/projects", "/download", "/projects?q=*"):
        mark = 'value="{}"' if url == "/download" else 'href="/projects/{}"'
        page = client.get(url, auth=actors["outsider"]).text
        assert mark.format("P") not in page and mark.format("OPEN") in page, url
        assert mark.format("P") in client.get(url, auth=actors["collaborator"]).text
    r = client.get(P, auth=actors["outsider"])
    assert r.status_code == 404 and "Project &#39;P&#39; not found." in r.text


def test_manage_and_access_tabs_say_what_settings_do(
    client: TestClient, actors: dict[str, Any], make_project: Any
) -> None:
    make_project("private", label="CLOSED")
    make_project("public", label="OPEN")
    manage = client.get("/projects/CLOSED?tab=manage", auth=actors["owner"]).text
    assert "Allow several sessions in one upload" in manage
    assert "compressed" not in manage
    # The project's messages go to the recipients of its Notifications section.
    assert 'id="notifications"' in manage and "No address gets this project" in manage
    # Owners are warned before making a project public; everyone sees that one is.
    access = client.get("/projects/CLOSED?tab=access", auth=actors["owner"]).text
    assert "Before making this project public" in access and "Patient" in access
    assert (
        "public-warning"
        not in client.get("/projects/CLOSED?tab=access", auth=actors["member"]).text
    )
    for who in ("owner", "anonymous"):
        page = client.get("/projects/OPEN?tab=access", auth=actors[who]).text
        assert "This project is public." in page and "without signing in" in page, who


def test_the_session_page_shows_scans_files_and_jobs(
    ctx: Context, client: TestClient, actors: dict[str, Any], world: Any
) -> None:
    world("private")
    page = client.get(E, auth=actors["collaborator"]).text
    assert 'id="scan-1"' in page and "thumbnail.png" in page
    assert "SNAPSHOTS" in page and "DICOM" in page
    assert "dcm2niix" in page  # the jobs table
    assert 'name="quality"' not in page  # collaborators read, they do not mark
    assert 'name="quality"' in client.get(E, auth=actors["member"]).text
    r = client.get(E + "/scans/1/thumbnail.png", auth=actors["collaborator"])
    assert r.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(r.content)).size[0] <= 192
    again = client.get(
        E + "/scans/1/thumbnail.png",
        auth=actors["collaborator"],
        headers={"if-none-match": r.headers["etag"]},
    )
    assert again.status_code == 304


def test_single_files_are_ticked_and_downloaded_without_javascript(
    ctx: Context, client: TestClient, actors: dict[str, Any], world: Any
) -> None:
    """The download page lists one session's files; the plain form's query, sent as a
    browser sends it, gives a zip of exactly the files ticked, manifest included."""
    world("private")
    who = actors["collaborator"]
    page = client.get("/download?project=P&session=E1", auth=who).text
    scan_file = "sessions/E1/scans/1/resources/DICOM/files/a.dcm"
    own_file = "sessions/E1/resources/DICOM/files/a.dcm"
    picture = "sessions/E1/scans/1/resources/SNAPSHOTS/files/1_T1w.png"
    for name in (scan_file, own_file, picture):
        assert f'name="file" value="{name}"' in page
    assert "Files of session E1" in page
    assert client.get(E, auth=who).text.count("session=E1#files") == 1  # the session page
    query = [("project", "P"), ("session", "E1"), ("file", scan_file), ("file", own_file)]
    r = client.get("/download/archive", params=query, auth=who, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/api/v1/projects/P/download?")
    r = client.get(r.headers["location"], auth=who)
    assert r.status_code == 200, r.text
    with zipfile.ZipFile(io.BytesIO(r.content)) as z:
        names = z.namelist()
        manifest = json.loads(z.read("manifest.json"))
    assert sorted(names) == [
        "S1/E1/resources/DICOM/files/a.dcm",
        "S1/E1/scans/1/resources/DICOM/files/a.dcm",
        "manifest.json",
        "manifest.sha256",
    ]
    assert [f["path"] for f in manifest["files"]] == ["a.dcm", "a.dcm"]
    assert manifest["selection"]["files"] == [scan_file, own_file]
    # The resource page ticks files the same way.
    page = client.get(E + "/resources/DICOM?scan=1", auth=who).text
    assert f'name="file" value="{scan_file}"' in page
    # Nothing ticked: back to the page, saying so.
    r = client.get("/download/archive?project=P", auth=who, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/download?project=P")
    # Someone who may not read the project sees no list and gets no file.
    assert client.get("/download?project=P&session=E1", auth=actors["outsider"]).status_code == 404
    r = client.get(
        "/api/v1/projects/P/download", params={"files": scan_file}, auth=actors["outsider"]
    )
    assert r.status_code == 404


def test_unknown_pages_and_bad_input_are_pages(client: TestClient, actors: dict[str, Any]) -> None:
    r = client.get("/no-such-page")
    assert r.status_code == 404 and "There is no page here." in r.text
    r = client.get("/projects?offset=-1")
    assert r.status_code == 422 and "text/html" in r.headers["content-type"]
    # The API keeps its JSON errors.
    assert client.get("/api/v1/no-such-route").json()["error"]["code"] == "not_found"


def test_project_filters_are_checked(
    client: TestClient, actors: dict[str, Any], world: Any, ctx: Context
) -> None:
    world("private")
    r = client.get(P + "?date_from=yesterday", auth=actors["owner"])
    assert r.status_code == 422 and "is not a date" in r.text
    with ctx.db.read() as db:
        assert db.scalar(select(Project.id).where(Project.label == "P")) is not None


def test_quality_metrics_and_job_logs_are_shown(
    ctx: Context, client: TestClient, actors: dict[str, Any], world: Any
) -> None:
    world("private")
    report = {
        "image": "1_T1w.nii.gz",
        "kind": "structural",
        "metrics": {"snr": 12.3456, "efc": 0.5},
    }
    with ctx.store.stage() as staged:
        staged.write(json.dumps(report).encode())
        ref = OwnerRef("P", session="E1", scan="1")
        files.commit_upload(ctx, SYSTEM, ref, "QA", "1_T1w_qa.json", staged)
    page = client.get(E, auth=actors["collaborator"]).text
    assert "1_T1w.nii.gz (structural)" in page and "12.35" in page and "efc" in page
    job = job_id(ctx, "succeeded")
    with ctx.db.write() as db:
        db.execute(update(Job).where(Job.id == job).values(log="converting <scan 1>\ndone"))
    page = client.get(f"{P}/jobs/{job}", auth=actors["collaborator"]).text
    assert "converting &lt;scan 1&gt;" in page  # escaped, never markup
    assert "Run again" not in page  # collaborators read jobs, they do not launch them
    assert "Run again" in client.get(f"{P}/jobs/{job}", auth=actors["member"]).text


def test_a_bug_is_a_page_with_a_reference(
    client: TestClient, actors: dict[str, Any], world: Any
) -> None:
    world("private")

    def broken() -> Any:
        raise RuntimeError("boom")

    app: Any = client.app
    app.dependency_overrides[get_visitor] = broken  # FastAPI's hook: a bug in the page
    try:
        with TestClient(app, raise_server_exceptions=False) as quiet:
            r = quiet.get(E, auth=actors["owner"])
    finally:
        app.dependency_overrides.clear()
    assert r.status_code == 500 and "text/html" in r.headers["content-type"]
    assert "Internal error (reference" in r.text
