"""The scan_types pattern: RE2 syntax, linear time, so no caller can stall the server."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from scandepot.errors import Invalid
from scandepot.export.selection import compile_pattern
from tests.conftest import LiveServer
from tests.export.conftest import BASE, World
from tests.helpers import ADMIN

# 81 characters that Python's re took 27 s on against a ten-character type (issue 14).
HOSTILE = "(?:.|.|.|.|.|.|.|.)*" * 4 + "!"


def _public(client: TestClient) -> None:
    r = client.patch(BASE, json={"accessibility": "public"}, auth=ADMIN)
    assert r.status_code == 200, r.text


def test_the_hostile_pattern_answers_at_once(client: TestClient, world: World) -> None:
    _public(client)
    started = time.monotonic()
    r = client.get(f"{BASE}/manifest", params={"scan_types": HOSTILE})
    assert time.monotonic() - started < 2
    assert r.status_code == 404, r.text
    assert r.json()["error"]["field"] == "scan_types"


def test_other_requests_go_on_meanwhile(
    client: TestClient, world: World, live_server: LiveServer
) -> None:
    _public(client)
    answers: dict[str, int] = {}

    def hostile() -> None:
        with httpx.Client(base_url=live_server.url, timeout=30) as c:
            answers["hostile"] = c.get(
                f"{BASE}/manifest", params={"scan_types": HOSTILE * 2}
            ).status_code

    worker = threading.Thread(target=hostile)
    started = time.monotonic()
    worker.start()
    with httpx.Client(base_url=live_server.url, timeout=30) as c:
        for _ in range(5):
            assert c.get("/healthz").status_code == 200
            assert c.get(f"{BASE}/manifest", params={"scan_types": "^EPI"}).status_code == 200
    worker.join(timeout=5)
    assert time.monotonic() - started < 2
    assert answers == {"hostile": 404}


@pytest.mark.parametrize(
    ("pattern", "wanted"),
    [
        ("EPI", {"2", "10"}),
        ("^EPI rest$", {"2"}),
        ("(?i)mprage", {"1"}),
        ("^(T1w MPRAGE|EPI task)$", {"1", "10"}),
        (r"\bta", {"10"}),
        ("[Rr]est|MP", {"1", "2"}),
    ],
)
def test_what_people_write_still_works(
    client: TestClient, world: World, pattern: str, wanted: set[str]
) -> None:
    r = client.get(f"{BASE}/sessions/E1/manifest", params={"scan_types": pattern}, auth=ADMIN)
    assert r.status_code == 200, r.text
    assert {f["scan"] for f in r.json()["files"]} == wanted


@pytest.mark.parametrize("pattern", [r"(a)\1", "(?=EPI)", "(?<!x)EPI", ".{1001}", "("])
def test_what_re2_leaves_out_is_refused_by_name(pattern: str) -> None:
    with pytest.raises(Invalid) as refused:
        compile_pattern(pattern)
    assert refused.value.field == "scan_types"
    assert "RE2" in refused.value.message


def test_the_download_page_exact_types_compile() -> None:
    from scandepot.export.choices import exact_types

    pattern = exact_types(["T1w (3D) #2", "EPI-rest ~a"])
    compiled = compile_pattern(pattern)
    assert compiled is not None
    assert compiled.search("T1w (3D) #2") and compiled.search("EPI-rest ~a")
    assert not compiled.search("T1w (3D) #23")
