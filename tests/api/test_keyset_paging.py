"""Keyset paging through the shared listing code: following ``next`` as ``after`` gives
every row once, in the order offset paging gives, for each sort (NULLs included, on SQLite
and PostgreSQL), and a cursor of another sort, or no cursor at all, is refused."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.helpers import ADMIN, API

URL = f"{API}/projects/P1/sessions"


@pytest.fixture
def sessions(client: TestClient, users: object) -> None:
    client.post(f"{API}/projects", json={"id": "P1"}, auth=ADMIN)
    for subject in ("S1", "S2"):
        client.post(f"{API}/projects/P1/subjects", json={"label": subject}, auth=ADMIN)
    # Repeated dates, and sessions without one, so that ties and NULLs are crossed.
    for i in range(23):
        body: dict[str, Any] = {"label": f"E{i:02d}", "subject": "S1" if i % 3 else "S2"}
        if i % 4:
            body["date"] = f"2024-0{1 + i % 3}-1{i % 2}"
        r = client.post(URL, json=body, auth=ADMIN)
        assert r.status_code == 201, r.text


def _by_offset(client: TestClient, sort: str) -> list[str]:
    body = client.get(f"{URL}?sort={sort}&limit=1000", auth=ADMIN).json()
    return [s["label"] for s in body["items"]]


def _by_cursor(client: TestClient, sort: str, limit: int) -> tuple[list[str], int]:
    labels: list[str] = []
    after, pages = None, 0
    while True:
        query = f"{URL}?sort={sort}&limit={limit}" + (f"&after={after}" if after else "")
        body = client.get(query, auth=ADMIN).json()
        pages += 1
        labels += [s["label"] for s in body["items"]]
        assert body["total"] == 23
        after = body["next"]
        if after is None:
            return labels, pages
        assert pages < 50, "the cursor does not move on"


def test_following_next_gives_every_row_once_in_order(client: TestClient, sessions: None) -> None:
    for sort in ("label", "-label", "date", "-date", "subject,-date", "-created"):
        expected = _by_offset(client, sort)
        assert sorted(expected) == [f"E{i:02d}" for i in range(23)]
        for limit in (1, 23) if sort == "-date" else (4,):
            labels, pages = _by_cursor(client, sort, limit)
            assert labels == expected, (sort, limit)
            # A full last page has a next, whose page is empty.
            assert pages == -(-23 // limit) + (1 if 23 % limit == 0 else 0)


def test_a_cursor_of_another_sort_or_none_at_all_is_refused(
    client: TestClient, sessions: None
) -> None:
    first = client.get(f"{URL}?sort=label&limit=5", auth=ADMIN).json()
    assert first["next"]
    other_sort = client.get(f"{URL}?sort=-date&limit=5&after={first['next']}", auth=ADMIN)
    assert other_sort.status_code == 422 and other_sort.json()["error"]["field"] == "after"
    for bad in ("x", "not*base64", "e30", "W10", first["next"][:-3]):
        r = client.get(f"{URL}?sort=label&limit=5&after={bad}", auth=ADMIN)
        assert r.status_code == 422 and r.json()["error"]["field"] == "after", bad
    both = client.get(f"{URL}?limit=5&offset=5&after={first['next']}", auth=ADMIN)
    assert both.status_code == 422 and both.json()["error"]["field"] == "after"
