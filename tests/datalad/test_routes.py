"""The visit store's routes: the tarball whole, in ranges and by HEAD, under the same
credentials and rules as the rest; a bad Range; a deleted session."""

from __future__ import annotations

import base64
from typing import Any

from fastapi.testclient import TestClient

from scandepot.access.actors import SYSTEM
from scandepot.archive import sessions
from scandepot.context import Context
from scandepot.datalad import store
from tests.datalad.conftest import Archived
from tests.datalad.test_visits import whole


def tar_url(found: Archived) -> str:
    return f"/datalad/{found.project}/{found.visit}_dicom.tar"


def test_the_tarball_whole_in_ranges_and_by_head(
    ctx: Context, client: TestClient, actors: dict[str, Any], visit: Archived
) -> None:
    expected = whole(ctx, visit)
    r = client.get(tar_url(visit), auth=actors["collaborator"])
    assert r.status_code == 200
    assert (r.content, r.headers["content-length"]) == (expected, str(len(expected)))
    assert r.headers["accept-ranges"] == "bytes"
    r = client.get(tar_url(visit), auth=actors["member"], headers={"range": "bytes=500-1099"})
    assert r.status_code == 206
    assert r.content == expected[500:1100]
    assert r.headers["content-range"] == f"bytes 500-1099/{len(expected)}"
    r = client.get(tar_url(visit), auth=actors["member"], headers={"range": "bytes=-10"})
    assert (r.status_code, r.content) == (206, expected[-10:])
    r = client.head(tar_url(visit), auth=actors["member"])
    assert (r.status_code, r.content) == (200, b"")
    assert r.headers["content-length"] == str(len(expected))


def test_a_bad_range_is_416_with_the_length(
    ctx: Context, client: TestClient, actors: dict[str, Any], visit: Archived
) -> None:
    length = len(whole(ctx, visit))
    for bad in (f"bytes={length}-", "bytes=10-5", "bytes=0-1,5-9", "lines=1-2", "bytes=x-"):
        r = client.get(tar_url(visit), auth=actors["member"], headers={"range": bad})
        assert r.status_code == 416, bad
        assert r.headers["content-range"] == f"bytes */{length}", bad


def test_credentials_as_elsewhere_and_a_challenge_for_datalad(
    client: TestClient, actors: dict[str, Any], visit: Archived
) -> None:
    r = client.get(tar_url(visit))
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == 'Basic realm="scandepot"'
    assert client.get(tar_url(visit), auth=actors["outsider"]).status_code == 404
    made = client.post("/api/v1/auth/tokens", json={"name": "datalad"}, auth=actors["member"])
    assert made.status_code == 201, made.text
    secret = made.json()["token"]
    # An API token as the password of HTTP Basic: what DataLad's credentials hold.
    r = client.head(tar_url(visit), auth=("member", secret))
    assert r.status_code == 200
    bearer = {"authorization": f"Bearer {secret}"}
    assert client.head(tar_url(visit), headers=bearer).status_code == 200
    garbled = {"authorization": "Basic " + base64.b64encode(b"member:wrong").decode()}
    assert client.head(tar_url(visit), headers=garbled).status_code == 401


def test_a_deleted_session_answers_404_and_its_deposit_goes(
    ctx: Context, client: TestClient, actors: dict[str, Any], visit: Archived
) -> None:
    folder = store.deposit_dir(ctx, visit.visit)
    folder.mkdir(parents=True)
    refs = f"{visit.visit}_XDLRA--refs"
    (folder / refs).write_text("refs\n")
    url = f"/datalad/{visit.project}/{refs}"
    r = client.get(url, auth=actors["member"])
    assert (r.status_code, r.text) == (200, "refs\n")
    missing = client.get(
        f"/datalad/{visit.project}/{visit.visit}_XDLRA--repo-export", auth=actors["member"]
    )
    assert missing.status_code == 404
    sessions.delete(ctx, SYSTEM, visit.project, visit.session)
    assert client.get(tar_url(visit), auth=actors["admin"]).status_code == 404
    assert client.get(url, auth=actors["admin"]).status_code == 404
    assert not folder.exists()


def test_prune_removes_the_deposits_of_deleted_sessions_only(ctx: Context, visit: Archived) -> None:
    kept = store.deposit_dir(ctx, visit.visit)
    gone = store.deposit_dir(ctx, "SD_E99999")
    for folder in (kept, gone):
        folder.mkdir(parents=True)
    assert store.prune(ctx) == ["SD_E99999"]
    assert kept.is_dir() and not gone.exists()


def test_names_that_are_no_visit_are_404(
    client: TestClient, actors: dict[str, Any], visit: Archived
) -> None:
    for name in ("E1_dicom.tar", "..%2F..%2Fetc_dicom.tar", "SD_E1_notes.txt", "catalog"):
        r = client.get(f"/datalad/{visit.project}/{name}", auth=actors["admin"])
        assert r.status_code == 404, name
