"""Many writers at once over real sockets: no "database is locked", nothing lost."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor

import httpx
from fastapi.testclient import TestClient

from scandepot.archive.check import check
from scandepot.context import Context
from tests.conftest import LiveServer
from tests.helpers import ADMIN, API, create_tree, scan_files_url

UPLOADERS = 8
FILES_EACH = 12


def test_eight_concurrent_uploaders(
    client: TestClient, ctx: Context, live_server: LiveServer, users: object
) -> None:
    create_tree(client)

    def upload(worker: int) -> list[tuple[int, str]]:
        results = []
        with httpx.Client(base_url=live_server.url, auth=ADMIN, timeout=60) as c:
            for i in range(FILES_EACH):
                body = f"{worker}-{i}".encode() * 4000
                r = c.put(f"{scan_files_url()}/w{worker}/f{i}.dcm", content=body)
                results.append((r.status_code, r.text))
                assert r.json().get("sha256") == hashlib.sha256(body).hexdigest(), r.text
            # Catalog writes of other kinds interleave with the uploads.
            r = c.post(f"{API}/projects/P1/subjects", json={"label": f"S_w{worker}"})
            results.append((r.status_code, r.text))
        return results

    with ThreadPoolExecutor(UPLOADERS) as pool:
        outcomes = [res for batch in pool.map(upload, range(UPLOADERS)) for res in batch]

    assert all(code == 201 for code, _ in outcomes), [t for c, t in outcomes if c != 201][:3]
    assert not any("locked" in text for _, text in outcomes)
    listing = client.get(f"{scan_files_url()}?limit=1000", auth=ADMIN).json()
    assert listing["total"] == UPLOADERS * FILES_EACH
    assert client.get(f"{API}/projects/P1", auth=ADMIN).json()["counts"]["subjects"] == 9
    report = check(ctx)
    assert report.ok and report.checked == UPLOADERS * FILES_EACH


def test_concurrent_uploads_to_one_path_have_one_winner(
    client: TestClient, ctx: Context, live_server: LiveServer, users: object
) -> None:
    create_tree(client)
    url = f"{scan_files_url()}/same.dcm"

    def upload(worker: int) -> int:
        with httpx.Client(base_url=live_server.url, auth=ADMIN, timeout=60) as c:
            return c.put(url, content=str(worker).encode() * 10_000).status_code

    with ThreadPoolExecutor(UPLOADERS) as pool:
        codes = sorted(pool.map(upload, range(UPLOADERS)))
    assert codes == [201] + [409] * (UPLOADERS - 1)
    stored = client.get(url, auth=ADMIN)
    meta = client.get(scan_files_url(), auth=ADMIN).json()["items"][0]
    assert hashlib.sha256(stored.content).hexdigest() == meta["sha256"]
    assert check(ctx).ok
    assert list(ctx.store.tmp.iterdir()) == []
