"""Sharing a subject or session into another project: who may share and unshare, what the
other project's people may then read and may not change, and the refusals; on SQLite and
PostgreSQL."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from scandepot.access import roles
from scandepot.access.actors import SYSTEM
from scandepot.catalog.access import AuditEvent, Role
from scandepot.catalog.transfers import Share
from scandepot.context import Context
from tests.conftest import ACTOR_NAMES
from tests.helpers import ADMIN, API
from tests.transfers.share_world import FILE_BYTES, homes

SHARE_E1 = f"{API}/projects/HOME/sessions/E1/shares/THERE"
SHARE_S1 = f"{API}/projects/HOME/subjects/S1/shares/THERE"


def _shares(ctx: Context) -> int:
    with ctx.db.read() as db:
        return db.scalar(select(func.count(Share.id))) or 0


# Sharing takes read on HOME and write on THERE (private; same roles in both projects).
SHARE_OUTCOMES = {
    # anonymous, outsider, collaborator, member, owner, admin
    "private": (401, 404, 403, 200, 200, 200),
    "protected": (401, 403, 403, 200, 200, 200),
    "public": (401, 404, 403, 200, 200, 200),  # reads HOME; THERE does not exist for them
}


@pytest.mark.parametrize("accessibility", ["private", "protected", "public"])
def test_who_may_share(
    ctx: Context, client: TestClient, actors: dict[str, Any], homes: Any, accessibility: str
) -> None:
    homes(accessibility)
    for name, want in zip(ACTOR_NAMES, SHARE_OUTCOMES[accessibility], strict=True):
        r = client.put(SHARE_E1, auth=actors[name])
        assert r.status_code == want, (name, r.text)
        if want == 200:
            assert r.json()["owner"] == "HOME" and r.json()["project"] == "THERE"
            assert _shares(ctx) == 2  # the session, and its subject with it
            r = client.delete(SHARE_S1, auth=ADMIN)  # its sessions go with it
            assert r.status_code == 204, r.text
        assert _shares(ctx) == 0, name


def test_read_on_home_and_write_there_is_what_it_takes(
    ctx: Context, client: TestClient, actors: dict[str, Any], homes: Any
) -> None:
    homes()
    # A member of THERE who may not see HOME: HOME does not exist for them.
    roles.remove_role(ctx, SYSTEM, "HOME", "member")
    assert client.put(SHARE_S1, auth=actors["member"]).status_code == 404
    # A collaborator of HOME (read) who is a member of THERE may share.
    roles.set_role(ctx, SYSTEM, "THERE", "collaborator", Role.MEMBER)
    r = client.put(SHARE_S1, params={"label": "Guest01"}, auth=actors["collaborator"])
    assert r.status_code == 200, r.text
    assert r.json()["label"] == "Guest01" and r.json()["subject"] == "S1"


def test_the_destination_reads_but_never_changes(
    ctx: Context, client: TestClient, actors: dict[str, Any], homes: Any
) -> None:
    homes()
    r = client.put(SHARE_E1, params={"label": "Visit1"}, auth=ADMIN)
    assert r.status_code == 200, r.text
    # THERE's collaborator reads it under its label there, with its scans and files.
    reader = actors["collaborator"]
    roles.remove_role(ctx, SYSTEM, "HOME", "collaborator")  # no role at home at all
    session = client.get(f"{API}/projects/THERE/sessions/Visit1", auth=reader).json()
    assert session["label"] == "Visit1" and session["project"] == "THERE"
    assert session["subject"] == "S1"
    assert session["shared_from"] == {"project": "HOME", "label": "E1", "subject": "S1"}
    assert client.get(f"{API}/projects/HOME/sessions/E1", auth=reader).status_code == 404
    scans = client.get(f"{API}/projects/THERE/sessions/Visit1/scans", auth=reader)
    assert scans.status_code == 200 and [s["id"] for s in scans.json()["items"]] == ["1"]
    url = f"{API}/projects/THERE/sessions/Visit1/scans/1/resources/DICOM/files/a.dcm"
    got = client.get(url, auth=reader)
    assert got.status_code == 200 and got.content == FILE_BYTES
    # Its member and owner may not change it there: 403 naming the owning project.
    for name in ("member", "owner"):
        auth = actors[name]
        for method, path, body in (
            ("PATCH", "/sessions/Visit1", {"note": "x"}),
            ("DELETE", "/sessions/Visit1", None),
            ("POST", "/sessions/Visit1/scans", {"id": "9"}),
            ("PATCH", "/sessions/Visit1/scans/1", {"quality": "unusable"}),
            ("DELETE", "/sessions/Visit1/scans/1", None),
            ("PATCH", "/subjects/S1", {"group": "x"}),
            ("DELETE", "/subjects/S1", None),
            ("POST", "/sessions/Visit1/jobs", {"pipeline": "dcm2niix"}),
        ):
            r = client.request(method, f"{API}/projects/THERE{path}", json=body, auth=auth)
            assert r.status_code == 403, (name, method, path, r.text)
            if name == "owner" or method != "DELETE":  # a member may delete nothing there
                assert "shared from project 'HOME'" in r.json()["error"]["message"]
        r = client.put(f"{url}?overwrite=true", content=b"new", auth=auth)
        assert r.status_code == 403, r.text
    # At home it is as it was; and THERE may not take its label for one of its own.
    home = client.get(f"{API}/projects/HOME/sessions/E1", auth=ADMIN).json()
    assert home["note"] == "" and home["shared_from"] is None
    r = client.post(f"{API}/projects/THERE/subjects", json={"label": "s1"}, auth=actors["member"])
    assert r.status_code == 409, r.text


def test_listings_show_shared_items_marked(
    client: TestClient, actors: dict[str, Any], homes: Any
) -> None:
    homes()
    client.post(f"{API}/projects/THERE/subjects", json={"label": "Own"}, auth=ADMIN)
    assert client.put(SHARE_E1, params={"label": "Visit1"}, auth=ADMIN).status_code == 200
    reader = actors["collaborator"]
    listed = client.get(f"{API}/projects/THERE/sessions", auth=reader).json()
    assert listed["total"] == 1
    assert listed["items"][0]["label"] == "Visit1"
    assert listed["items"][0]["shared_from"]["project"] == "HOME"
    found = client.get(f"{API}/projects/THERE/sessions?subject=S1", auth=reader).json()
    assert found["total"] == 1
    subjects = client.get(f"{API}/projects/THERE/subjects", auth=reader).json()["items"]
    assert [(s["label"], (s["shared_from"] or {}).get("project")) for s in subjects] == [
        ("Own", None),
        ("S1", "HOME"),
    ]
    # HOME's listings are as before: its own, unmarked.
    home = client.get(f"{API}/projects/HOME/sessions", auth=ADMIN).json()["items"]
    assert [(s["label"], s["shared_from"]) for s in home] == [("E1", None)]
    shared = client.get(f"{API}/projects/THERE/shares", auth=reader).json()
    assert [(s["kind"], s["label"], s["owner"]) for s in shared] == [
        ("subject", "S1", "HOME"),
        ("session", "Visit1", "HOME"),
    ]
    where = client.get(f"{API}/projects/HOME/sessions/E1/shares", auth=ADMIN).json()
    assert [(s["project"], s["label"]) for s in where] == [("THERE", "Visit1")]
    # Shared into a third project too: seen from THERE, only THERE's share shows.
    client.post(f"{API}/projects", json={"id": "THIRD"}, auth=ADMIN)
    r = client.put(f"{API}/projects/HOME/sessions/E1/shares/THIRD", auth=ADMIN)
    assert r.status_code == 200, r.text
    where = client.get(f"{API}/projects/HOME/sessions/E1/shares", auth=ADMIN).json()
    assert [s["project"] for s in where] == ["THERE", "THIRD"]
    seen = client.get(f"{API}/projects/THERE/sessions/Visit1/shares", auth=reader).json()
    assert [(s["project"], s["label"], s["owner"]) for s in seen] == [("THERE", "Visit1", "HOME")]
    # HOME's collaborator is in THERE but not in THIRD (private): the share into THIRD is
    # not told to it; nor are any to an outsider reading a public HOME.
    home_reader = client.get(f"{API}/projects/HOME/sessions/E1/shares", auth=reader).json()
    assert [s["project"] for s in home_reader] == ["THERE"]
    outsider = actors["outsider"]
    r = client.patch(f"{API}/projects/HOME", json={"accessibility": "public"}, auth=ADMIN)
    assert r.status_code == 200, r.text
    public = client.get(f"{API}/projects/HOME/sessions/E1/shares", auth=outsider)
    assert public.status_code == 200 and public.json() == []


def test_downloads_of_the_destination_hold_shared_sessions(
    client: TestClient, actors: dict[str, Any], homes: Any
) -> None:
    homes()
    assert client.put(SHARE_E1, params={"label": "Visit1"}, auth=ADMIN).status_code == 200
    reader = actors["collaborator"]
    for url in (
        f"{API}/projects/THERE/download",
        f"{API}/projects/THERE/download?sessions=Visit1",
        f"{API}/projects/THERE/sessions/Visit1/download",
        f"{API}/projects/THERE/download?files=sessions/Visit1/scans/1/resources/DICOM/files/a.dcm",
        f"{API}/projects/THERE/sessions/Visit1/download?files=scans/1/resources/DICOM/files/a.dcm",
    ):
        r = client.get(url, auth=reader)
        assert r.status_code == 200, (url, r.text)
        archive = zipfile.ZipFile(io.BytesIO(r.content))
        (name,) = [n for n in archive.namelist() if not n.startswith("manifest.")]
        assert name.endswith("Visit1/scans/1-T1w/resources/DICOM/files/a.dcm"), name
        assert archive.read(name) == FILE_BYTES


def test_refusals(ctx: Context, client: TestClient, homes: Any) -> None:
    homes()
    client.post(f"{API}/projects/THERE/subjects", json={"label": "Taken"}, auth=ADMIN)
    home_into_home = f"{API}/projects/HOME/subjects/S1/shares/HOME"
    cases = [
        (home_into_home, {}, 422),
        (SHARE_S1, {"label": "taken"}, 409),  # a subject of THERE has it (case ignored)
        (SHARE_S1, {"label": "bad label!"}, 422),
        (f"{API}/projects/HOME/subjects/S1/shares/NOWHERE", {}, 404),
        (f"{API}/projects/HOME/subjects/S9/shares/THERE", {}, 404),
        (f"{API}/projects/NOWHERE/subjects/S1/shares/THERE", {}, 404),
    ]
    for url, params, want in cases:
        r = client.put(url, params=params, auth=ADMIN)
        assert r.status_code == want, (url, params, r.text)
    assert _shares(ctx) == 0
    assert client.put(SHARE_S1, params={"label": "Guest"}, auth=ADMIN).status_code == 200
    again = client.put(SHARE_S1, auth=ADMIN)
    assert again.status_code == 409 and "as 'Guest'" in again.json()["error"]["message"]
    # Another share holds the label: a second subject of HOME may not take it.
    client.post(f"{API}/projects/HOME/subjects", json={"label": "S2"}, auth=ADMIN)
    r = client.put(f"{API}/projects/HOME/subjects/S2/shares/THERE?label=GUEST", auth=ADMIN)
    assert r.status_code == 409, r.text
    # A session whose subject's label is taken there: its subject is shared first.
    client.post(f"{API}/projects/THERE/subjects", json={"label": "S3"}, auth=ADMIN)
    client.post(f"{API}/projects/HOME/subjects", json={"label": "S3"}, auth=ADMIN)
    new = {"label": "E3", "subject": "S3"}
    assert client.post(f"{API}/projects/HOME/sessions", json=new, auth=ADMIN).status_code == 201
    r = client.put(f"{API}/projects/HOME/sessions/E3/shares/THERE", auth=ADMIN)
    assert r.status_code == 409 and "under another label first" in r.json()["error"]["message"]
    r = client.put(f"{API}/projects/HOME/subjects/S3/shares/THERE?label=S3b", auth=ADMIN)
    assert r.status_code == 200, r.text
    r = client.put(f"{API}/projects/HOME/sessions/E3/shares/THERE", auth=ADMIN)
    assert r.status_code == 200, r.text
    there = client.get(f"{API}/projects/THERE/sessions/E3", auth=ADMIN).json()
    assert there["subject"] == "S3b"
    # What is seen through a share is shared from its own project, not from there.
    r = client.put(f"{API}/projects/THERE/subjects/Guest/shares/HOME", auth=ADMIN)
    assert r.status_code == 403, r.text


def test_who_may_unshare(
    ctx: Context, client: TestClient, actors: dict[str, Any], homes: Any
) -> None:
    """Write on THERE, or manage on HOME."""
    homes("protected")
    for name, want in zip(ACTOR_NAMES, (401, 403, 403, 204, 204, 204), strict=True):
        assert client.put(SHARE_E1, auth=ADMIN).status_code in (200, 409)
        r = client.delete(SHARE_S1, auth=actors[name])
        assert r.status_code == want, (name, r.text)
        assert _shares(ctx) == (0 if want == 204 else 2), name
    # HOME's owner alone (no role in THERE) may unshare; a member of THERE alone too.
    roles.set_role(ctx, SYSTEM, "THERE", "admin", Role.OWNER)  # so that THERE keeps one
    roles.set_role(ctx, SYSTEM, "THERE", "owner", Role.COLLABORATOR)  # read there only
    roles.remove_role(ctx, SYSTEM, "HOME", "member")
    for name in ("owner", "member"):
        assert client.put(SHARE_E1, auth=ADMIN).status_code == 200
        assert client.delete(SHARE_E1, auth=actors[name]).status_code == 204, name
        assert _shares(ctx) == 1  # the subject stays shared
        assert client.delete(SHARE_S1, auth=ADMIN).status_code == 204
    assert client.delete(SHARE_S1, auth=ADMIN).status_code == 404  # not shared now
    with ctx.db.read() as db:
        actions = list(db.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
    # Every share made was recorded (a session's subject beside it), and every unshare.
    assert actions.count("share.added") == 3 * 2 + 2 * 2
    assert actions.count("share.removed") == 3 + 2 * 2


def test_xnat_share_routes(client: TestClient, actors: dict[str, Any], homes: Any) -> None:
    homes()
    member = actors["member"]
    r = client.put("/data/projects/HOME/subjects/S1/projects/THERE?label=G1", auth=member)
    assert r.status_code == 200, r.text
    subject_id = r.text
    r = client.put(
        "/data/projects/HOME/subjects/S1/experiments/E1/projects/THERE?label=V1", auth=member
    )
    assert r.status_code == 200, r.text
    rows = client.get("/data/projects/THERE/subjects?format=json", auth=member).json()
    (row,) = rows["ResultSet"]["Result"]
    assert (row["ID"], row["label"], row["project"]) == (subject_id, "G1", "HOME")
    rows = client.get("/data/projects/THERE/experiments?format=json", auth=member).json()
    (row,) = rows["ResultSet"]["Result"]
    assert (row["label"], row["project"]) == ("V1", "HOME")
    # Read there by label or ID; changed only at home.
    got = client.get("/data/projects/THERE/subjects/G1?format=json", auth=member)
    assert got.status_code == 200, got.text
    got = client.get(f"/data/projects/THERE/subjects/{subject_id}?format=json", auth=member)
    assert got.status_code == 200, got.text
    r = client.put("/data/projects/THERE/subjects/G1?gender=female", auth=member)
    assert r.status_code == 403, r.text
    for base in (
        "/data/projects/THERE/experiments/V1",
        "/data/projects/THERE/subjects/G1/experiments/V1",
    ):
        scans = client.get(f"{base}/scans?format=json", auth=member)
        assert scans.status_code == 200, scans.text
        assert [row["ID"] for row in scans.json()["ResultSet"]["Result"]] == ["1"]
        got = client.get(f"{base}/scans/1/resources/DICOM/files/a.dcm", auth=member)
        assert got.status_code == 200 and got.content == FILE_BYTES
        r = client.put(f"{base}?xnat:experimentData/note=changed", auth=member)
        assert r.status_code == 403, r.text
    r = client.delete("/data/projects/HOME/experiments/E1/projects/THERE", auth=member)
    assert r.status_code == 200, r.text
    r = client.delete("/data/projects/HOME/subjects/S1/projects/THERE", auth=member)
    assert r.status_code == 200, r.text
    rows = client.get("/data/projects/THERE/subjects?format=json", auth=member).json()
    assert rows["ResultSet"]["Result"] == []


SEARCH = (
    '<xdat:bundle xmlns:xdat="http://nrg.wustl.edu/security">'
    "<xdat:root_element_name>xnat:mrSessionData</xdat:root_element_name>"
    "<xdat:search_where method='AND'><xdat:criteria><xdat:schema_field>"
    "xnat:mrSessionData/PROJECT</xdat:schema_field><xdat:comparison_type>=</xdat:comparison_type>"
    "<xdat:value>HOME</xdat:value></xdat:criteria></xdat:search_where></xdat:bundle>"
)


def test_searches_find_what_is_shared_into_a_readable_project(
    ctx: Context, client: TestClient, actors: dict[str, Any], homes: Any
) -> None:
    homes()
    roles.remove_role(ctx, SYSTEM, "HOME", "collaborator")  # reads THERE only
    reader = actors["collaborator"]

    def found() -> list[tuple[str, str]]:
        r = client.post("/data/search?format=json", content=SEARCH, auth=reader)
        assert r.status_code == 200, r.text
        return [(row["label"], row["project"]) for row in r.json()["ResultSet"]["Result"]]

    assert found() == []
    assert client.put(SHARE_E1, auth=ADMIN).status_code == 200
    assert found() == [("E1", "HOME")]  # its own project, as XNAT shows it
    assert client.delete(SHARE_E1, auth=ADMIN).status_code == 204
    assert found() == []


def test_deleting_at_home_removes_the_shares(ctx: Context, client: TestClient, homes: Any) -> None:
    homes()
    assert client.put(SHARE_E1, auth=ADMIN).status_code == 200
    assert client.delete(f"{API}/projects/HOME/sessions/E1", auth=ADMIN).status_code == 204
    assert _shares(ctx) == 1  # the subject's stays
    assert client.get(f"{API}/projects/THERE/sessions/E1", auth=ADMIN).status_code == 404
    r = client.delete(f"{API}/projects/HOME/subjects/S1?recursive=true", auth=ADMIN)
    assert r.status_code == 204
    assert _shares(ctx) == 0


def test_data_arriving_for_a_shared_label_is_not_archived_there(
    ctx: Context, client: TestClient, homes: Any
) -> None:
    """A label a share holds is taken in the project shared into, for uploads too: what
    is shared changes at home."""
    from tests.access.test_matrix import _one_instance_zip

    homes()
    assert client.put(SHARE_E1, params={"label": "Visit1"}, auth=ADMIN).status_code == 200
    url = f"{API}/projects/THERE/import?destination=archive"
    for query in ("&subject=S1&session=New1", "&subject=New2&session=Visit1"):
        r = client.post(url + query, content=_one_instance_zip(), auth=ADMIN)
        assert r.status_code == 403, r.text
        assert "is shared from project 'HOME'" in r.json()["error"]["message"]
    listed = client.get(f"{API}/projects/THERE/sessions", auth=ADMIN).json()["items"]
    assert [s["label"] for s in listed] == ["Visit1"]
    assert client.get(f"{API}/projects/HOME/sessions", auth=ADMIN).json()["total"] == 1


def test_a_shared_session_keeps_its_subject(ctx: Context, client: TestClient, homes: Any) -> None:
    homes()
    client.post(f"{API}/projects/HOME/subjects", json={"label": "S2"}, auth=ADMIN)
    assert client.put(SHARE_E1, auth=ADMIN).status_code == 200
    moved = {"subject": "S2"}
    r = client.patch(f"{API}/projects/HOME/sessions/E1", json=moved, auth=ADMIN)
    assert r.status_code == 409 and "unshare it there" in r.json()["error"]["message"]
    # Relabels at home are fine: the label there stays.
    r = client.patch(f"{API}/projects/HOME/sessions/E1", json={"label": "E1b"}, auth=ADMIN)
    assert r.status_code == 200, r.text
    there = client.get(f"{API}/projects/THERE/sessions/E1", auth=ADMIN).json()
    assert there["shared_from"] == {"project": "HOME", "label": "E1b", "subject": "S1"}
    assert client.delete(SHARE_E1.replace("E1", "E1b"), auth=ADMIN).status_code == 204
    r = client.patch(f"{API}/projects/HOME/sessions/E1b", json=moved, auth=ADMIN)
    assert r.status_code == 200, r.text


def test_dicomweb_of_the_destination_holds_shared_sessions(
    ctx: Context, client: TestClient, actors: dict[str, Any], homes: Any
) -> None:
    """QIDO-RS and WADO-RS through the project shared into, and the site-wide root, for
    a reader of that project alone."""
    from tests.access.test_matrix import _one_instance_zip
    from tests.helpers import after_archive

    homes()
    url = f"{API}/projects/HOME/import?destination=archive&subject=S1&session=DCM1"
    r = client.post(url, content=_one_instance_zip(), auth=ADMIN)
    assert r.status_code == 200, r.text
    after_archive(client.app)
    roles.remove_role(ctx, SYSTEM, "HOME", "collaborator")
    reader = actors["collaborator"]
    for root in ("/dicomweb/projects/THERE", "/dicomweb"):
        assert client.get(f"{root}/studies", auth=reader).json() == [], root
    share = f"{API}/projects/HOME/sessions/DCM1/shares/THERE"
    assert client.put(share, auth=ADMIN).status_code == 200
    for root in ("/dicomweb/projects/THERE", "/dicomweb"):
        found = client.get(f"{root}/studies", auth=reader)
        assert found.status_code == 200, found.text
        (study,) = found.json()
        uid = study["0020000D"]["Value"][0]
        got = client.get(
            f"{root}/studies/{uid}", auth=reader, headers={"accept": "multipart/related"}
        )
        assert got.status_code == 200, (root, got.text[:300])
        assert b"DICM" in got.content
    assert client.delete(share, auth=ADMIN).status_code == 204
    assert client.get("/dicomweb/projects/THERE/studies", auth=reader).json() == []


__all__ = ["homes"]  # the fixture the tests take


def test_listings_are_one_query_whatever_is_shared(
    ctx: Context, client: TestClient, homes: Any
) -> None:
    """No query per shared row: the statements of each listing of the project shared into
    do not grow with what is shared."""
    from sqlalchemy import event

    homes()
    urls = (
        f"{API}/projects/THERE/sessions",
        f"{API}/projects/THERE/subjects",
        "/data/projects/THERE/experiments?format=json",
        "/data/projects/THERE/subjects?format=json",
        f"{API}/projects/THERE/shares",
    )

    def statements_of(url: str) -> int:
        seen: list[str] = []

        def count(*args: Any) -> None:
            seen.append(str(args[2]))

        event.listen(ctx.db.engine, "before_cursor_execute", count)
        try:
            assert client.get(url, auth=ADMIN).status_code == 200
        finally:
            event.remove(ctx.db.engine, "before_cursor_execute", count)
        return len(seen)

    def statements() -> list[int]:
        return [statements_of(url) for url in urls]

    assert client.put(SHARE_E1, auth=ADMIN).status_code == 200
    statements()  # once before: what a first request does once
    before = statements()
    for n in range(8):
        client.post(f"{API}/projects/HOME/subjects", json={"label": f"X{n}"}, auth=ADMIN)
        body = {"label": f"EX{n}", "subject": f"X{n}"}
        assert (
            client.post(f"{API}/projects/HOME/sessions", json=body, auth=ADMIN).status_code == 201
        )
        r = client.put(f"{API}/projects/HOME/sessions/EX{n}/shares/THERE", auth=ADMIN)
        assert r.status_code == 200, r.text
    assert statements() == before
    listed = client.get(f"{API}/projects/THERE/sessions", auth=ADMIN).json()
    assert listed["total"] == 9 and all(s["shared_from"] for s in listed["items"])
