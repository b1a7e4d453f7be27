"""XNAT-compatible listing benchmark; figures for docs/benchmarks.md ("XNAT-compatible API").

A project with 5,000 sessions (a subject each, 3 scans of one instance each, written
straight into the catalog by scandepot.query.bulk): the server time of
``GET /data/projects/{p}/experiments?format=json`` (every session of the project in one
answer, as xnatpy and pyxnat ask for it), against the peer measured in the same run: the
native listing of the same sessions, ``GET /api/v1/projects/{p}/sessions``, which pages
(at most 1,000 to a page), so all 5,000 take five requests; the figure of one page of
1,000 is printed beside it. Both are asked in-process (ASGI, no network), each signed in
once (XNAT's JSESSIONID, the browser's cookie), so the figures are the server's own time.
Target: under 200 ms for the listing. It also counts the SQL statements that read
sessions in one listing: one, whatever the number of sessions.

Run: .venv/bin/python bench/xnat_listing.py [--sessions 5000] [--repeat 30]
     [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/DB]   (an empty database)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scandepot.access import roles, users  # noqa: E402
from scandepot.access.actors import SYSTEM  # noqa: E402
from scandepot.access.users import UserCreate  # noqa: E402
from scandepot.app import create_app  # noqa: E402
from scandepot.archive import projects  # noqa: E402
from scandepot.archive.projects import ProjectCreate  # noqa: E402
from scandepot.catalog.access import Role  # noqa: E402
from scandepot.cli.common import open_context  # noqa: E402
from scandepot.context import Context  # noqa: E402
from scandepot.query import bulk  # noqa: E402
from scandepot.settings import Settings  # noqa: E402

PASSWORD = "bench-password-1"
PROJECT = "BENCH"
TARGET_MS = 200.0


def fill(ctx: Context, sessions: int) -> None:
    projects.create(ctx, SYSTEM, ProjectCreate(id=PROJECT, name="Benchmark cohort"))
    users.create(ctx, SYSTEM, UserCreate(login="reader", password=PASSWORD))
    roles.set_role(ctx, SYSTEM, PROJECT, "reader", Role.COLLABORATOR)
    bulk.load(ctx, PROJECT, studies=sessions, series=3, instances=1, batch=500)


def row(name: str, times: list[float]) -> tuple[str, float, float]:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return name, statistics.median(times), p95


def once(client: TestClient, url: str) -> tuple[float, Any]:
    start = time.perf_counter()
    r = client.get(url)
    elapsed = (time.perf_counter() - start) * 1000
    assert r.status_code == 200, (url, r.status_code, r.text[:300])
    return elapsed, r


def statements(engine: Any, client: TestClient, url: str) -> int:
    """The SQL statements one request runs (sign-in included)."""
    seen: list[str] = []

    def count(*args: Any) -> None:
        seen.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", count)
    try:
        once(client, url)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return len([s for s in seen if "FROM session" in s])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp) / "data", database_url=args.database_url)
        ctx = open_context(settings)
        start = time.perf_counter()
        fill(ctx, args.sessions)
        catalog = "PostgreSQL" if args.database_url else "SQLite"
        print(
            f"{args.sessions} sessions, {3 * args.sessions} scans filled in "
            f"{time.perf_counter() - start:.1f} s ({catalog})"
        )
        app = create_app(ctx=ctx, install_pipelines=False)
        with TestClient(app) as client:
            r = client.post("/data/JSESSION", auth=("reader", PASSWORD))
            assert r.status_code == 200, r.text
            r = client.post("/api/v1/auth/login", json={"login": "reader", "password": PASSWORD})
            assert r.status_code == 200, r.text
            xnat = f"/data/projects/{PROJECT}/experiments?format=json"
            api = f"/api/v1/projects/{PROJECT}/sessions?limit=1000"
            pages = [f"{api}&offset={offset}" for offset in range(0, args.sessions, 1000)]
            _, answer = once(client, xnat)
            listed = answer.json()["ResultSet"]
            assert int(listed["totalRecords"]) == args.sessions == len(listed["Result"])
            native = {s["id"] for p in pages for s in once(client, p)[1].json()["items"]}
            assert native == {x["ID"] for x in listed["Result"]}, "not the same sessions"
            for _ in range(2):  # warm both
                once(client, xnat)
                once(client, pages[0])
            xnat_times: list[float] = []
            all_pages: list[float] = []
            one_page: list[float] = []
            for _ in range(args.repeat):  # interleaved: both see the same machine state
                xnat_times.append(once(client, xnat)[0])
                times = [once(client, p)[0] for p in pages]
                all_pages.append(sum(times))
                one_page.append(times[0])
            queries = statements(ctx.db.engine, client, xnat)
            print(f"median and 95th percentile of {args.repeat} requests, ms:")
            print(f"  {'what':52} {'median':>8} {'p95':>7}")
            for name, times in (
                (f"XNAT: /data/.../experiments, {args.sessions} rows", xnat_times),
                (f"native: /api/v1/.../sessions, {len(pages)} pages of 1000", all_pages),
                ("native: /api/v1/.../sessions, one page of 1000", one_page),
            ):
                _, median, p95 = row(name, times)
                print(f"  {name:52} {median:8.1f} {p95:7.1f}")
            print(f"SQL statements reading sessions in one XNAT listing: {queries}")
            worst = statistics.median(xnat_times)
            verdict = "met" if worst < TARGET_MS else "NOT met"
            print(f"XNAT listing median {worst:.1f} ms: target < {TARGET_MS:.0f} ms {verdict}")
        ctx.close()


if __name__ == "__main__":
    main()
