"""Create, read, update and delete down the hierarchy, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from scandepot.context import Context
from tests.helpers import ADMIN, API, create_tree, scan_files_url


def test_create_and_read_the_whole_hierarchy(client: TestClient, users: object) -> None:
    create_tree(client)
    project = client.get(f"{API}/projects/P1", auth=ADMIN).json()
    assert project["counts"] == {"subjects": 1, "sessions": 1, "scans": 1}
    assert project["accessibility"] == "private"
    subject = client.get(f"{API}/projects/P1/subjects/S1", auth=ADMIN).json()
    assert subject["id"].startswith("SD_S") and subject["label"] == "S1"
    session = client.get(f"{API}/projects/P1/sessions/E1", auth=ADMIN).json()
    assert session["id"].startswith("SD_E")
    assert session["subject"] == "S1" and session["subject_id"] == subject["id"]
    assert session["date"] == "2024-03-01"
    scan = client.get(f"{API}/projects/P1/sessions/E1/scans/1", auth=ADMIN).json()
    assert scan["type"] == "T1w MPRAGE"  # type defaults to the Series Description
    assert scan["quality"] == "usable"


def test_site_wide_ids_are_stable_across_relabels(client: TestClient, users: object) -> None:
    create_tree(client)
    before = client.get(f"{API}/projects/P1/sessions/E1", auth=ADMIN).json()["id"]
    r = client.patch(f"{API}/projects/P1/sessions/E1", json={"label": "E1b"}, auth=ADMIN)
    assert r.status_code == 200, r.text
    assert r.json()["id"] == before
    client.post(f"{API}/projects/P1/subjects", json={"label": "S2"}, auth=ADMIN)
    ids = [s["id"] for s in client.get(f"{API}/projects/P1/subjects", auth=ADMIN).json()["items"]]
    assert len(set(ids)) == 2


def test_labels_are_unique_within_their_parent(client: TestClient, users: object) -> None:
    create_tree(client)
    cases = [
        (f"{API}/projects", {"id": "P1"}),
        (f"{API}/projects", {"id": "p1"}),  # case-insensitive: folders must not collide
        (f"{API}/projects/P1/subjects", {"label": "S1"}),
        (f"{API}/projects/P1/sessions", {"label": "E1", "subject": "S1"}),
        (f"{API}/projects/P1/sessions/E1/scans", {"id": "1"}),
        (f"{API}/projects/P1/sessions/E1/resources", {"label": "x"}),
    ]
    client.post(f"{API}/projects/P1/sessions/E1/resources", json={"label": "x"}, auth=ADMIN)
    for url, body in cases:
        r = client.post(url, json=body, auth=ADMIN)
        assert r.status_code == 409, (url, r.text)
        assert r.json()["error"]["code"] == "conflict"
    # The same labels are fine under another parent.
    create_tree(client, project="P2")


def test_update_fields(client: TestClient, users: object) -> None:
    create_tree(client)
    r = client.patch(
        f"{API}/projects/P1",
        json={
            "name": "Pilot",
            "accessibility": "protected",
            "series_filter_mode": "deny",
            "series_filter": ["^localizer", "(?i)scout"],
            "keywords": ["MRI"],
        },
        auth=ADMIN,
    )
    assert r.status_code == 200, r.text
    assert r.json()["settings"]["series_filter"] == ["^localizer", "(?i)scout"]
    r = client.patch(
        f"{API}/projects/P1/subjects/S1",
        json={"sex": "female", "age": 31, "group": "control", "fields": {"handedness": "left"}},
        auth=ADMIN,
    )
    assert r.json()["fields"] == {"handedness": "left"} and r.json()["sex"] == "female"
    r = client.patch(
        f"{API}/projects/P1/sessions/E1/scans/1",
        json={"quality": "questionable", "note": "motion"},
        auth=ADMIN,
    )
    assert (r.json()["quality"], r.json()["note"]) == ("questionable", "motion")


def test_listing_pages_sorts_and_filters(client: TestClient, users: object) -> None:
    client.post(f"{API}/projects", json={"id": "P1"}, auth=ADMIN)
    for i in range(7):
        client.post(
            f"{API}/projects/P1/subjects",
            json={"label": f"sub_{i:02d}", "group": "a" if i % 2 else "b"},
            auth=ADMIN,
        )
    client.post(f"{API}/projects/P1/subjects", json={"label": "other01"}, auth=ADMIN)
    page = client.get(f"{API}/projects/P1/subjects?limit=3&offset=3&sort=-label", auth=ADMIN)
    body = page.json()
    assert body["total"] == 8 and body["limit"] == 3 and body["offset"] == 3
    assert [s["label"] for s in body["items"]] == ["sub_03", "sub_02", "sub_01"]
    # '_' is a literal in labels, not a wildcard; '*' is the wildcard.
    found = client.get(f"{API}/projects/P1/subjects?label=sub_*", auth=ADMIN).json()
    assert found["total"] == 7
    assert client.get(f"{API}/projects/P1/subjects?group=a", auth=ADMIN).json()["total"] == 3
    bad = client.get(f"{API}/projects/P1/subjects?sort=password", auth=ADMIN)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "sort"


def test_session_filters_by_date_and_subject(client: TestClient, users: object) -> None:
    create_tree(client)
    client.post(f"{API}/projects/P1/subjects", json={"label": "S2"}, auth=ADMIN)
    client.post(
        f"{API}/projects/P1/sessions",
        json={"label": "E2", "subject": "S2", "date": "2025-01-01"},
        auth=ADMIN,
    )
    url = f"{API}/projects/P1/sessions"
    assert client.get(f"{url}?date_from=2024-12-31", auth=ADMIN).json()["total"] == 1
    assert client.get(f"{url}?subject=S1", auth=ADMIN).json()["items"][0]["label"] == "E1"
    assert client.get(f"{url}?sort=-date", auth=ADMIN).json()["items"][0]["label"] == "E2"


def test_deleting_a_session_removes_scans_resources_and_files(
    client: TestClient, ctx: Context, users: object
) -> None:
    create_tree(client)
    for name in ("a.dcm", "b.dcm"):
        r = client.put(f"{scan_files_url()}/{name}", content=b"DICM" * 10, auth=ADMIN)
        assert r.status_code == 201, r.text
    client.put(
        f"{API}/projects/P1/sessions/E1/resources/NOTES/files/n.txt", content=b"n", auth=ADMIN
    )
    session_dir = ctx.store.archive / "P1" / "subjects" / "S1" / "sessions" / "E1"
    assert (session_dir / "scans" / "1" / "resources" / "DICOM" / "files" / "a.dcm").exists()

    assert client.delete(f"{API}/projects/P1/sessions/E1", auth=ADMIN).status_code == 204
    assert client.get(f"{API}/projects/P1/sessions/E1", auth=ADMIN).status_code == 404
    assert not session_dir.exists()
    with ctx.db.read() as db:
        from sqlalchemy import func, select

        from scandepot.catalog.archive import File, Resource, Scan

        assert db.scalar(select(func.count(Scan.id))) == 0
        assert db.scalar(select(func.count(Resource.id))) == 0
        assert db.scalar(select(func.count(File.id))) == 0
    assert client.get(f"{API}/projects/P1", auth=ADMIN).json()["counts"]["scans"] == 0


def test_deleting_a_subject_or_project_with_children_needs_recursive(
    client: TestClient, ctx: Context, users: object
) -> None:
    create_tree(client)
    client.put(f"{scan_files_url()}/a.dcm", content=b"x", auth=ADMIN)
    assert client.delete(f"{API}/projects/P1/subjects/S1", auth=ADMIN).status_code == 409
    assert client.delete(f"{API}/projects/P1", auth=ADMIN).status_code == 409
    assert client.delete(f"{API}/projects/P1?recursive=true", auth=ADMIN).status_code == 204
    assert client.get(f"{API}/projects/P1", auth=ADMIN).status_code == 404
    assert not (ctx.store.archive / "P1").exists()


def test_relabel_moves_folders_and_keeps_files_reachable(
    client: TestClient, ctx: Context, users: object
) -> None:
    create_tree(client)
    client.put(f"{scan_files_url()}/a.dcm", content=b"payload", auth=ADMIN)
    assert (
        client.patch(f"{API}/projects/P1/subjects/S1", json={"label": "S9"}, auth=ADMIN).status_code
        == 200
    )
    assert (
        client.patch(f"{API}/projects/P1/sessions/E1", json={"label": "E9"}, auth=ADMIN).status_code
        == 200
    )
    assert (
        client.patch(
            f"{API}/projects/P1/sessions/E9/scans/1", json={"id": "2"}, auth=ADMIN
        ).status_code
        == 200
    )
    new = ctx.store.archive / "P1/subjects/S9/sessions/E9/scans/2/resources/DICOM/files/a.dcm"
    assert new.read_bytes() == b"payload"
    assert not (ctx.store.archive / "P1/subjects/S1").exists()
    r = client.get(f"{scan_files_url(session='E9', scan='2')}/a.dcm", auth=ADMIN)
    assert r.content == b"payload"


def test_moving_a_session_to_another_subject(
    client: TestClient, ctx: Context, users: object
) -> None:
    create_tree(client)
    client.post(f"{API}/projects/P1/subjects", json={"label": "S2"}, auth=ADMIN)
    client.put(f"{scan_files_url()}/a.dcm", content=b"payload", auth=ADMIN)
    r = client.patch(f"{API}/projects/P1/sessions/E1", json={"subject": "S2"}, auth=ADMIN)
    assert r.status_code == 200 and r.json()["subject"] == "S2"
    assert (ctx.store.archive / "P1/subjects/S2/sessions/E1").is_dir()
    assert not (ctx.store.archive / "P1/subjects/S1/sessions/E1").exists()
    # The catalog and the disk still agree: resources below follow their session.
    from scandepot.archive.check import check

    assert check(ctx).ok


def test_failed_relabel_leaves_folders_in_place(
    client: TestClient, ctx: Context, users: object
) -> None:
    create_tree(client)
    client.post(f"{API}/projects/P1/sessions", json={"label": "E2", "subject": "S1"}, auth=ADMIN)
    client.put(f"{scan_files_url()}/a.dcm", content=b"payload", auth=ADMIN)
    r = client.patch(f"{API}/projects/P1/sessions/E1", json={"label": "E2"}, auth=ADMIN)
    assert r.status_code == 409
    assert Path(ctx.store.archive / "P1/subjects/S1/sessions/E1").is_dir()


def test_changing_only_the_case_of_a_label(client: TestClient, ctx: Context, users: object) -> None:
    create_tree(client)
    client.put(f"{scan_files_url()}/a.dcm", content=b"x", auth=ADMIN)
    r = client.patch(f"{API}/projects/P1/sessions/E1", json={"label": "e1"}, auth=ADMIN)
    assert r.status_code == 200, r.text
    sessions = ctx.store.archive / "P1/subjects/S1/sessions"
    assert [p.name for p in sessions.iterdir()] == ["e1"]
    assert client.get(f"{scan_files_url(session='e1')}/a.dcm", auth=ADMIN).content == b"x"


def test_every_look_up_by_label_ignores_case(
    client: TestClient, ctx: Context, users: object
) -> None:
    """One rule for every look-up: a case-only relabel leaves the old spelling working."""
    create_tree(client)
    client.put(f"{scan_files_url()}/a.dcm", content=b"x", auth=ADMIN)
    r = client.patch(f"{API}/projects/P1/sessions/E1", json={"label": "ses-01"}, auth=ADMIN)
    assert r.status_code == 200, r.text
    r = client.patch(f"{API}/projects/P1/sessions/ses-01", json={"label": "SES-01"}, auth=ADMIN)
    assert r.status_code == 200, r.text
    r = client.get(f"{API}/projects/P1/sessions/ses-01", auth=ADMIN)
    assert r.status_code == 200 and r.json()["label"] == "SES-01"
    assert client.get(f"{API}/projects/P1/subjects/s1", auth=ADMIN).json()["label"] == "S1"
    r = client.get(f"{API}/projects/P1/sessions", params={"subject": "s1"}, auth=ADMIN)
    assert [s["label"] for s in r.json()["items"]] == ["SES-01"]
    url = scan_files_url(session="ses-01", resource="dicom")
    assert client.get(f"{url}/a.dcm", auth=ADMIN).content == b"x"
    assert client.get(f"{API}/projects/P1/sessions/ses-01/scans/1", auth=ADMIN).status_code == 200
    # Changes through the other spelling act on the folders the labels name.
    assert client.delete(f"{url}/a.dcm", auth=ADMIN).status_code == 204
    assert not list((ctx.store.archive / "P1/subjects/S1").rglob("a.dcm"))
    r = client.delete(f"{API}/projects/P1/subjects/s1?recursive=true", auth=ADMIN)
    assert r.status_code == 204, r.text
    assert not (ctx.store.archive / "P1/subjects/S1").exists()


def test_resource_labels_differing_only_in_case_are_refused(
    client: TestClient, users: object
) -> None:
    create_tree(client)
    assert (
        client.put(f"{scan_files_url(resource='DICOM')}/a", content=b"x", auth=ADMIN).status_code
        == 201
    )
    r = client.put(f"{scan_files_url(resource='dicom')}/b", content=b"x", auth=ADMIN)
    assert r.status_code == 409 and r.json()["error"]["field"] == "resource"


def test_wildcards_ignore_case_on_every_backend(client: TestClient, users: object) -> None:
    create_tree(client)
    found = client.get(f"{API}/projects/P1/sessions/E1/scans?type=*mprage*", auth=ADMIN).json()
    assert found["total"] == 1
    assert client.get(f"{API}/projects?q=p*", auth=ADMIN).json()["total"] == 1


def test_openapi_document(client: TestClient) -> None:
    doc = client.get("/api/v1/openapi.json").json()
    assert doc["info"]["title"] == "scandepot"
    ids = [op["operationId"] for path in doc["paths"].values() for op in path.values()]
    assert len(ids) == len(set(ids))
    assert (
        "/api/v1/projects/{project}/sessions/{session}/scans/{scan}/resources/{resource}"
        "/files/{path}" in doc["paths"]
    )
