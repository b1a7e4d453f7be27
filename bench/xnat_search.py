"""A pyxnat search over 5,000 sessions, against /api/v1's listing of the same sessions.

    .venv/bin/python bench/xnat_search.py                      # SQLite, 5,000 sessions
    .venv/bin/python bench/xnat_search.py --database-url postgresql+psycopg://...

The catalog is filled by ``scandepot.query.bulk``: project BENCH with ``--sessions``
sessions (one subject, one scan and one instance row each; no files), made MR sessions,
and project OTHER with as many that the searching account may not read. That account is
a member of BENCH and signs in with an API token as its password, as scripts do (a
password is hashed again on every request).

pyxnat posts one ``xdat:search`` document (``select(...).where(...)``: project, label
and date criteria, five columns) and reads the CSV answer. The peer walks
``/api/v1/projects/BENCH/sessions`` (1,000 a page, its largest) with httpx, as a script
on the native API would. Each is timed ``--repeat`` times in this one run; the figures
are the medians.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from serving import PASSWORD, serve, server_env
from sqlalchemy import update

from scandepot.access import roles, users
from scandepot.access.actors import SYSTEM
from scandepot.access.users import UserCreate
from scandepot.archive import projects
from scandepot.archive.projects import ProjectCreate
from scandepot.catalog.access import Role
from scandepot.catalog.archive import Session
from scandepot.context import Context
from scandepot.db.migrate import upgrade
from scandepot.query import bulk
from scandepot.settings import Settings

MR = "xnat:mrSessionData"
COLUMNS = [f"{MR}/{f}" for f in ("SESSION_ID", "SUBJECT_ID", "PROJECT", "LABEL", "DATE")]
WHERE = [
    (f"{MR}/PROJECT", "=", "BENCH"),
    [(f"{MR}/LABEL", "LIKE", "BULK%"), (f"{MR}/DATE", ">=", "2000-01-01"), "AND"],
    "AND",
]


def load(data: Path, sessions: int, database_url: str | None) -> None:
    data.mkdir(parents=True)
    ctx = Context.from_settings(Settings(data_dir=data, database_url=database_url))
    ctx.store.ensure()
    upgrade(ctx.db)
    projects.create(ctx, SYSTEM, ProjectCreate(id="BENCH"))
    projects.create(ctx, SYSTEM, ProjectCreate(id="OTHER"))
    for project, seed in (("BENCH", 0), ("OTHER", 1)):
        bulk.load(ctx, project, studies=sessions, series=1, instances=1, seed=seed, batch=500)
    with ctx.db.write() as db:  # bulk sessions carry no modality: these are MR sessions
        db.execute(update(Session).values(modality="MR"))
    users.create(ctx, SYSTEM, UserCreate(login="reader", password=PASSWORD))
    roles.set_role(ctx, SYSTEM, "BENCH", "reader", Role.MEMBER)
    ctx.close()


def timed(call: Callable[[], int], repeat: int) -> tuple[float, int]:
    """Median milliseconds of ``repeat`` calls (after one unmeasured), and the rows found."""
    found = call()
    spent = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        spent.append((time.perf_counter() - start) * 1000)
    return statistics.median(spent), found


def pyxnat_search(base: str, token: str) -> Callable[[], int]:
    import pyxnat

    interface = pyxnat.Interface(server=base, user="reader", password=token)

    def search() -> int:
        return len(interface.select(MR, COLUMNS).where(WHERE))

    return search


def raw_search(base: str, token: str) -> Callable[[], int]:
    """The document pyxnat posts, sent by httpx: the server's part of pyxnat's time."""
    from pyxnat.core.search import build_search_document

    document = build_search_document(MR, COLUMNS, WHERE)
    client = httpx.Client(base_url=base, auth=("reader", token))

    def search() -> int:
        r = client.post("/data/search", params={"format": "csv"}, content=document)
        r.raise_for_status()
        return r.text.count("\n") - 1

    return search


def native_listing(base: str, token: str) -> Callable[[], int]:
    client = httpx.Client(base_url=base, headers={"authorization": f"Bearer {token}"})

    def listing() -> int:
        found, offset = 0, 0
        while True:
            r = client.get(
                "/api/v1/projects/BENCH/sessions", params={"limit": 1000, "offset": offset}
            )
            r.raise_for_status()
            page: dict[str, Any] = r.json()
            found += len(page["items"])
            offset += 1000
            if offset >= page["total"]:
                return found

    return listing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        print(f"loading 2 x {args.sessions} sessions", flush=True)
        load(data, args.sessions, args.database_url)
        settings = {"SCANDEPOT_DATABASE_URL": args.database_url} if args.database_url else {}
        with serve(data, server_env(**settings)) as (_server, base):
            made = httpx.post(
                f"{base}/api/v1/auth/tokens", auth=("reader", PASSWORD), json={"name": "bench"}
            )
            made.raise_for_status()
            token = made.json()["token"]
            ours, n_ours = timed(pyxnat_search(base, token), args.repeat)
            server, _ = timed(raw_search(base, token), args.repeat)
            theirs, n_theirs = timed(native_listing(base, token), args.repeat)
    backend = "PostgreSQL" if args.database_url else "SQLite"
    print(
        f"pyxnat search of {args.sessions} sessions ({backend}), median ms of {args.repeat}: "
        f"pyxnat {ours:.1f} ({n_ours} rows; the same POST by httpx {server:.1f}), "
        f"/api/v1 listing {theirs:.1f} ({n_theirs} sessions), "
        f"ratio pyxnat/listing {ours / theirs:.2f}"
    )
    if n_ours != args.sessions or n_theirs != args.sessions:
        sys.exit("the search and the listing disagree with what was loaded")


if __name__ == "__main__":
    main()
