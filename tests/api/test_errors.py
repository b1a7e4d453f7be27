"""Malformed requests get a 4xx in the one error shape and change nothing."""

from __future__ import annotations

import socket

import httpx
import pytest
from fastapi.testclient import TestClient

from scandepot.catalog.paging import PageRequest
from scandepot.context import Context
from scandepot.errors import Invalid
from tests.conftest import LiveServer
from tests.helpers import ADMIN, API, create_tree


def error_of(r: httpx.Response) -> dict[str, object]:
    body = r.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "field"}
    assert "Traceback" not in r.text
    return dict(body["error"])


@pytest.fixture
def tree(client: TestClient, users: object) -> None:
    create_tree(client)


def counts(client: TestClient) -> dict[str, int]:
    return dict(client.get(f"{API}/projects/P1", auth=ADMIN).json()["counts"])


@pytest.mark.parametrize(
    ("url", "body", "field"),
    [
        ("/projects", {"id": "bad id"}, "id"),
        ("/projects", {"id": "../P"}, "id"),
        ("/projects", {"id": "x" * 65}, "id"),
        ("/projects/P1/subjects", {"label": "s/1"}, "label"),
        ("/projects/P1/sessions", {"label": "E 2", "subject": "S1"}, "label"),
        ("/projects/P1/sessions", {"label": "E2", "subject": "S1", "date": "yesterday"}, "date"),
        (
            "/projects/P1/sessions",
            {"label": "E2", "subject": "S1", "StudyInstanceUID": "1.2.a"},
            "StudyInstanceUID",
        ),
        ("/projects/P1/sessions/E1/scans", {"id": "1;DROP"}, "id"),
        ("/projects/P1/sessions/E1/scans", {"id": "2", "quality": "great"}, "quality"),
        ("/projects/P1/subjects", {"label": "S2", "age": "old"}, "age"),
        ("/projects/P1/subjects", {"label": "S2", "age": -1}, "age"),
        ("/projects/P1/subjects", {"label": "S2", "shoe_size": 9}, "shoe_size"),
        ("/projects/P1/subjects", {"label": 12}, "label"),
        ("/projects", {"id": "P2", "series_filter": ["(unclosed"]}, "series_filter"),
        ("/projects", {"id": "P2", "accessibility": "secret"}, "accessibility"),
        (
            "/projects",
            {"id": "P2", "notification_recipients": ["not-an-email"]},
            "notification_recipients.0",
        ),
    ],
)
def test_invalid_input_names_the_field(
    client: TestClient, tree: None, url: str, body: dict[str, object], field: str
) -> None:
    before = counts(client)
    r = client.post(f"{API}{url}", json=body, auth=ADMIN)
    assert r.status_code == 422, r.text
    err = error_of(r)
    assert err["code"] == "invalid"
    assert err["field"] == field
    assert counts(client) == before
    assert client.get(f"{API}/projects/P2", auth=ADMIN).status_code == 404


def test_invalid_json(client: TestClient, tree: None) -> None:
    r = client.post(
        f"{API}/projects",
        content=b"{not json",
        auth=ADMIN,
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 400
    assert error_of(r)["code"] == "invalid_json"
    r = client.post(
        f"{API}/projects",
        content=b"[1, 2]",
        auth=ADMIN,
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 422


def test_unknown_parents(client: TestClient, tree: None) -> None:
    r = client.post(
        f"{API}/projects/P1/sessions", json={"label": "E2", "subject": "NOPE"}, auth=ADMIN
    )
    assert r.status_code == 404 and error_of(r)["field"] == "subject"
    r = client.post(f"{API}/projects/NOPE/subjects", json={"label": "S"}, auth=ADMIN)
    assert r.status_code == 404 and error_of(r)["field"] == "project"
    r = client.post(f"{API}/projects/P1/sessions/NOPE/scans", json={"id": "1"}, auth=ADMIN)
    assert r.status_code == 404 and error_of(r)["field"] == "session"
    assert counts(client) == {"subjects": 1, "sessions": 1, "scans": 1}


def test_oversized_json_body(client: TestClient, ctx: Context, tree: None) -> None:
    big = {"label": "S2", "fields": {"note": "x" * (ctx.settings.max_request_bytes + 10)}}
    r = client.post(f"{API}/projects/P1/subjects", json=big, auth=ADMIN)
    assert r.status_code == 413 and error_of(r)["code"] == "too_large"
    assert counts(client)["subjects"] == 1


def test_oversized_chunked_body_without_length(
    client: TestClient, ctx: Context, tree: None
) -> None:
    def chunks():  # type: ignore[no-untyped-def]
        for _ in range(3):
            yield b" " * ctx.settings.max_request_bytes

    r = client.post(
        f"{API}/projects/P1/subjects",
        content=chunks(),
        auth=ADMIN,
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 413


def test_oversized_upload(client: TestClient, ctx: Context, tree: None) -> None:
    ctx.settings.max_upload_bytes = 1000
    url = f"{API}/projects/P1/resources/R/files/big.bin"
    r = client.put(url, content=b"x" * 1001, auth=ADMIN)
    assert r.status_code == 413

    def chunks():  # type: ignore[no-untyped-def]
        yield b"x" * 600
        yield b"x" * 600

    r = client.put(url, content=chunks(), auth=ADMIN)
    assert r.status_code == 413
    assert client.get(url, auth=ADMIN).status_code == 404
    assert list(ctx.store.tmp.iterdir()) == []


def test_unknown_route_and_method_use_the_error_shape(client: TestClient) -> None:
    r = client.get(f"{API}/nothing-here")
    assert r.status_code == 404 and error_of(r)["code"] == "not_found"
    r = client.put(f"{API}/projects")
    assert r.status_code == 405 and error_of(r)["code"] == "method_not_allowed"


def test_paging_parameters_are_checked(client: TestClient, tree: None) -> None:
    for query in ("limit=0", "limit=100000", "offset=-1", "limit=abc"):
        r = client.get(f"{API}/projects?{query}", auth=ADMIN)
        assert r.status_code == 422, query
        assert error_of(r)["field"] in ("limit", "offset")


@pytest.mark.parametrize("offset", [2**63, 2**64 + 7, 10**30])
def test_an_offset_beyond_64_bits_is_refused(client: TestClient, tree: None, offset: int) -> None:
    for route in ("/projects", "/projects/P1/sessions", "/prearchive", "/audit"):
        r = client.get(f"{API}{route}?offset={offset}", auth=ADMIN)
        assert r.status_code == 422, (route, r.text)
        assert error_of(r)["field"] == "offset"
    r = client.get(f"{API}/projects?offset={2**63 - 1}", auth=ADMIN)
    assert r.status_code == 200 and r.json()["items"] == []


def test_a_page_offset_beyond_64_bits_is_invalid() -> None:
    with pytest.raises(Invalid) as refused:
        PageRequest(offset=2**63)
    assert refused.value.field == "offset"


@pytest.mark.parametrize(
    "header",
    [
        "Basic",
        "Basic !!!",
        "Basic " + "YWRtaW4=",  # no colon
        "Bearer",
        "Digest abc",
        "Basic " + "w6k6w6k=" + "\u00e9",
    ],
)
def test_malformed_authorization_is_refused(client: TestClient, header: str) -> None:
    r = client.get(f"{API}/projects", headers={"authorization": header.encode("latin-1")})
    assert r.status_code == 401
    assert error_of(r)["code"] == "unauthorized"


def test_wrong_password(client: TestClient, users: object) -> None:
    r = client.get(f"{API}/projects", auth=("admin", "wrong"))
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Basic")
    r2 = client.get(f"{API}/projects", auth=("nobody", "wrong"))
    assert r2.json() == r.json()  # never says whether the account exists


def test_oversized_headers_on_the_wire(live_server: LiveServer) -> None:
    host, port = live_server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n")
        reply = sock.recv(1024)
    assert reply.startswith(b"HTTP/1.1 4"), reply[:100]


def test_oversized_headers_in_the_app(client: TestClient, ctx: Context) -> None:
    big = "a" * (ctx.settings.max_header_bytes + 1)
    r = client.get("/healthz", headers={"x-big": big})
    assert r.status_code == 431 and error_of(r)["code"] == "headers_too_large"
    assert client.get("/healthz", headers={"x-ok": "a" * 1000}).status_code == 200
