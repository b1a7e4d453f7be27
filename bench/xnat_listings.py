"""XNAT-compatible listings benchmark; figures for docs/benchmarks.md ("XNAT listings").

A project with 5,000 subjects, each with a custom field: the server time of
``/data/projects/{p}/subjects?format=json`` (every subject, XNAT's default columns, and
with a demographics and a custom-field column as pyxnat asks them) and of
``/data/subjects``, against the peer measured in the same run: the JSON API's largest
page of the same subjects (``/api/v1/projects/{p}/subjects?limit=1000``, a fifth of
them). Asked in-process (ASGI, no network) with an API token, so the figures are the
server's own time. Target: under 200 ms.

Run: .venv/bin/python bench/xnat_listings.py [--subjects 5000] [--repeat 20]
     [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/DB]   (an empty database)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import insert, select, update

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scandepot.access import roles, tokens, users  # noqa: E402
from scandepot.access.actors import SYSTEM  # noqa: E402
from scandepot.access.tokens import TokenCreate  # noqa: E402
from scandepot.access.users import UserCreate  # noqa: E402
from scandepot.app import create_app  # noqa: E402
from scandepot.archive import projects  # noqa: E402
from scandepot.archive.projects import ProjectCreate  # noqa: E402
from scandepot.catalog.access import Role  # noqa: E402
from scandepot.catalog.archive import Counter, Project, Subject  # noqa: E402
from scandepot.cli.common import open_context  # noqa: E402
from scandepot.context import Context  # noqa: E402
from scandepot.settings import Settings  # noqa: E402

PROJECT = "BENCH"
DEMO = "xnat:subjectData/demographics[@xsi:type=xnat:demographicData]"


def fill(ctx: Context, subjects: int) -> str:
    """Bulk rows, as a cohort that has been filling for years would hold them; a reader's
    API token."""
    projects.create(ctx, SYSTEM, ProjectCreate(id=PROJECT, name="Benchmark cohort"))
    reader = users.create(ctx, SYSTEM, UserCreate(login="reader", password="bench-password-1"))
    roles.set_role(ctx, SYSTEM, PROJECT, "reader", Role.COLLABORATOR)
    site = ctx.settings.site_id
    with ctx.db.write() as db:
        project_id = db.scalar(select(Project.id).where(Project.label == PROJECT))
        db.execute(
            insert(Subject),
            [
                {
                    "project_id": project_id,
                    "label": f"sub-{i:05d}",
                    "stable_id": f"{site}_S{i:07d}",
                    "sex": "female" if i % 2 else "male",
                    "age": 20 + i % 60,
                    "fields": {"site": f"site-{i % 7}", "arm": "A" if i % 3 else "B"},
                }
                for i in range(1, subjects + 1)
            ],
        )
        db.execute(update(Counter).where(Counter.name == "subject").values(value=subjects))
    user, _ = reader
    return tokens.create(ctx, users.actor_for(user), TokenCreate(name="bench")).token


def timed(client: TestClient, url: str, auth: tuple[str, str], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        r = client.get(url, auth=auth)
        times.append((time.perf_counter() - start) * 1000)
        assert r.status_code == 200, (url, r.status_code, r.text[:300])
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subjects", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp) / "data", database_url=args.database_url)
        ctx = open_context(settings)
        auth = ("reader", fill(ctx, args.subjects))
        catalog = "PostgreSQL" if args.database_url else "SQLite"
        print(f"{args.subjects} subjects ({catalog})")
        app = create_app(ctx=ctx, install_pipelines=False)
        subjects = f"/data/projects/{PROJECT}/subjects?format=json"
        picked = f"&columns=ID,label,{DEMO}/gender,xnat:subjectData/fields/field[name=site]/field"
        urls = [
            ("project's subjects, default columns", subjects),
            ("... gender and a custom field", subjects + picked),
            ("/data/subjects, every project", "/data/subjects?format=json"),
            ("peer: /api/v1 page of 1000", f"/api/v1/projects/{PROJECT}/subjects?limit=1000"),
        ]
        with TestClient(app) as client:
            for _name, url in urls:  # warm each once
                timed(client, url, auth, 2)
            print(f"median and 95th percentile of {args.repeat} requests, ms:")
            worst = 0.0
            for name, url in urls:
                times = sorted(timed(client, url, auth, args.repeat))
                median = statistics.median(times)
                p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
                if url.startswith("/data"):
                    worst = max(worst, median)
                print(f"  {name:40} {median:8.1f} {p95:8.1f}")
            verdict = "met" if worst < 200 else "NOT met"
            print(f"slowest XNAT listing median {worst:.1f} ms: target < 200 ms {verdict}")
        ctx.close()


if __name__ == "__main__":
    main()
