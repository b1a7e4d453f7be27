"""Web page benchmark; figures for docs/benchmarks.md ("Web pages").

A project with 5,000 sessions (500 subjects, 3 scans each): the server time to render its
project page (sessions tab, one page of 50), against the peer measured in the same run:
the JSON API listing of the very same page (/api/v1/projects/{p}/sessions). Both are
asked in-process (ASGI, no network), signed in with the session cookie as a browser is,
so the figures are the server's own time. Target: under 300 ms for the page.

Run: .venv/bin/python bench/web_project_page.py [--sessions 5000] [--repeat 30]
     [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/DB]   (an empty database)
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import insert, select, update

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scandepot.access import roles, users  # noqa: E402
from scandepot.access.actors import SYSTEM  # noqa: E402
from scandepot.access.users import UserCreate  # noqa: E402
from scandepot.app import create_app  # noqa: E402
from scandepot.archive import projects  # noqa: E402
from scandepot.archive.projects import ProjectCreate  # noqa: E402
from scandepot.catalog.access import Role  # noqa: E402
from scandepot.catalog.archive import Counter, Project, Scan, Session, Subject  # noqa: E402
from scandepot.cli.common import open_context  # noqa: E402
from scandepot.context import Context  # noqa: E402
from scandepot.settings import Settings  # noqa: E402

PASSWORD = "bench-password-1"
PROJECT = "BENCH"


def fill(ctx: Context, sessions: int, per_subject: int = 10, scans: int = 3) -> None:
    """Bulk rows, as an archive that has been filling for years would hold them."""
    projects.create(ctx, SYSTEM, ProjectCreate(id=PROJECT, name="Benchmark cohort"))
    users.create(ctx, SYSTEM, UserCreate(login="reader", password=PASSWORD))
    roles.set_role(ctx, SYSTEM, PROJECT, "reader", Role.COLLABORATOR)
    site = ctx.settings.site_id
    day0 = dt.date(2015, 1, 1)
    with ctx.db.write() as db:
        project_id = db.scalar(select(Project.id).where(Project.label == PROJECT))
        n_subjects = (sessions + per_subject - 1) // per_subject
        db.execute(
            insert(Subject),
            [
                {"project_id": project_id, "label": f"sub-{i:05d}", "accession": f"{site}_S{i:07d}"}
                for i in range(1, n_subjects + 1)
            ],
        )
        subject_ids = list(db.scalars(select(Subject.id).order_by(Subject.id)))
        db.execute(
            insert(Session),
            [
                {
                    "project_id": project_id,
                    "subject_id": subject_ids[(i - 1) // per_subject],
                    "label": f"ses-{i:05d}",
                    "accession": f"{site}_E{i:07d}",
                    "modality": "MR" if i % 7 else "PT",
                    "date": day0 + dt.timedelta(days=i % 3000),
                    "StudyDescription": "Research^Brain",
                }
                for i in range(1, sessions + 1)
            ],
        )
        session_ids = list(db.scalars(select(Session.id).order_by(Session.id)))
        db.execute(
            insert(Scan),
            [
                {
                    "session_id": sid,
                    "label": str(k),
                    "SeriesNumber": k,
                    "SeriesDescription": "T1w",
                    "type": "T1w",
                    "Modality": "MR",
                }
                for sid in session_ids
                for k in range(1, scans + 1)
            ],
        )
        for kind, value in (("subject", n_subjects), ("session", sessions)):
            db.execute(update(Counter).where(Counter.name == kind).values(value=value))


def timed(client: TestClient, url: str, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        r = client.get(url)
        times.append((time.perf_counter() - start) * 1000)
        assert r.status_code == 200, (url, r.status_code, r.text[:300])
    return times


def row(name: str, times: list[float]) -> tuple[str, float, float]:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return name, statistics.median(times), p95


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
            r = client.post("/api/v1/auth/login", json={"login": "reader", "password": PASSWORD})
            assert r.status_code == 200, r.text
            p = f"/projects/{PROJECT}"
            api = f"/api/v1/projects/{PROJECT}/sessions"
            last = args.sessions - 50
            pairs = [
                ("first page, by label", f"{p}?limit=50", f"{api}?limit=50"),
                (
                    "last page, by date descending",
                    f"{p}?limit=50&sort=-date&offset={last}",
                    f"{api}?limit=50&sort=-date&offset={last}",
                ),
                (
                    "filtered: PT, 2018, label ses-0*",
                    f"{p}?limit=50&modality=PT&date_from=2018-01-01&date_to=2018-12-31&label=ses-0",
                    f"{api}?limit=50&modality=PT&date_from=2018-01-01&date_to=2018-12-31"
                    "&label=*ses-0*",
                ),
            ]
            for _name, page_url, api_url in pairs:  # warm both once
                timed(client, page_url, 2)
                timed(client, api_url, 2)
            print(f"median and 95th percentile of {args.repeat} requests, ms:")
            print(f"  {'what':34} {'page':>8} {'p95':>7} {'API':>8} {'p95':>7} {'page/API':>9}")
            worst = 0.0
            for name, page_url, api_url in pairs:
                page_times: list[float] = []
                api_times: list[float] = []
                for _ in range(args.repeat):  # interleaved: both see the same machine state
                    page_times += timed(client, page_url, 1)
                    api_times += timed(client, api_url, 1)
                _, pm, p95 = row(name, page_times)
                _, am, a95 = row(name, api_times)
                worst = max(worst, pm)
                print(f"  {name:34} {pm:8.1f} {p95:7.1f} {am:8.1f} {a95:7.1f} {pm / am:9.2f}")
            session = f"{p}/sessions/ses-02500"
            s_times = timed(client, session, args.repeat)
            print(f"  {'a session page (3 scans)':34} {statistics.median(s_times):8.1f}")
            verdict = "met" if worst < 300 else "NOT met"
            print(f"slowest project page median {worst:.1f} ms: target < 300 ms {verdict}")
        ctx.close()


if __name__ == "__main__":
    main()
