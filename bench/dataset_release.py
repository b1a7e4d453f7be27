"""The release of a dataset of 500 subjects, 1,000 sessions and 2,000,000 instances: its
manifest written (INSERT ... SELECT on the server), totalled and checksummed.

    .venv/bin/python bench/dataset_release.py            # a PostgreSQL database of its own
    .venv/bin/python bench/dataset_release.py --server postgresql+psycopg://postgres@127.0.0.1:5432

The catalog is bulk-loaded by ``scandepot.query.bulk`` (rows written as an archive would
write them, with no file on disk: the release reads the catalog alone): project BENCH with
1,000 sessions of 10 series of 200 instances (a file and an instance row each), the
sessions then paired under 500 subjects. A dataset of those 500 subjects is created and
released through the service, as ``POST /api/v1/datasets/{id}/release`` runs it; the
figure is the release's wall time (the target: under 60 s), with the manifest export's.
The database is created for the run and dropped after it.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import Engine, create_engine, delete, event, func, select, text, update

from scandepot.access import roles, users
from scandepot.access.actors import SYSTEM
from scandepot.access.users import UserCreate, actor_for
from scandepot.archive import projects
from scandepot.archive.projects import ProjectCreate
from scandepot.catalog.access import Role, User
from scandepot.catalog.archive import File, Session, Subject
from scandepot.context import Context
from scandepot.datasets import drafts, manifest, members, release
from scandepot.datasets.drafts import DatasetCreate
from scandepot.datasets.members import MemberChange
from scandepot.db.migrate import upgrade
from scandepot.query import bulk
from scandepot.settings import Settings

META = {
    "title": "Bench",
    "description": "Bulk-loaded.",
    "authors": [{"name": "Bench"}],
    "contact": {"name": "Bench", "email": "bench@example.org"},
    "licence": "CC0-1.0",
}


def load(ctx: Context, sessions: int, series: int, instances: int) -> list[str]:
    """Bulk-load the project; pair its sessions under half as many subjects; the
    subjects' site-wide IDs."""
    projects.create(ctx, SYSTEM, ProjectCreate(id="BENCH"))
    bulk.load(ctx, "BENCH", studies=sessions, series=series, instances=instances, batch=20)
    with ctx.db.write() as db:
        ids = list(db.scalars(select(Subject.id).order_by(Subject.id)))
        kept = ids[::2]
        for first, second in zip(ids[::2], ids[1::2], strict=False):
            db.execute(update(Session).where(Session.subject_id == second).values(subject_id=first))
        db.execute(delete(Subject).where(Subject.id.not_in(kept)))
        found = list(db.scalars(select(Subject.stable_id).order_by(Subject.id)))
    # Vacuumed as autovacuum leaves an archive that grew over months: otherwise the
    # release would be the first to read the freshly loaded rows, and would pay for
    # setting (and writing back) their visibility hints, a cost of bulk loading alone.
    with ctx.db.engine.execution_options(isolation_level="AUTOCOMMIT").connect() as conn:
        for table in ("file", "resource", "scan", "session", "subject", "project"):
            conn.execute(text(f"VACUUM (ANALYZE) {table}"))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="postgresql+psycopg://postgres@127.0.0.1:5432")
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--series", type=int, default=10)
    parser.add_argument("--instances", type=int, default=200)
    parser.add_argument(
        "--keep", action="store_true", help="Keep the loaded database (its name is printed)."
    )
    parser.add_argument(
        "--database", default=None, help="A database kept by --keep: release again, no load."
    )
    args = parser.parse_args()
    name = args.database or f"scandepot_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(f"{args.server}/postgres", isolation_level="AUTOCOMMIT")
    if args.database is None:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            run(args, f"{args.server}/{name}", Path(tmp) / "data")
    finally:
        if args.keep or args.database:
            print(f"database kept: {name}")
        else:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class Statements:
    """Each statement's time in the database, for the breakdown of the release."""

    def __init__(self, engine: Engine) -> None:
        self.spent: list[tuple[float, str]] = []
        self._started: list[float] = []
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, *_args: object) -> None:
        self._started.append(time.perf_counter())

    def _after(self, _conn: object, _cursor: object, statement: str, *_args: object) -> None:
        spent = time.perf_counter() - self._started.pop()
        self.spent.append((spent, " ".join(statement.split())[:70]))

    def show(self, top: int = 4) -> None:
        for spent, statement in sorted(self.spent, reverse=True)[:top]:
            print(f"  {spent:6.1f} s  {statement}")


def run(args: argparse.Namespace, url: str, data: Path) -> None:
    data.mkdir()
    ctx = Context.from_settings(Settings(data_dir=data, database_url=url))
    ctx.store.ensure()
    if args.database is None:
        upgrade(ctx.db)
        subjects = fill(ctx, args)
        users.create(ctx, SYSTEM, UserCreate(login="holder", password="bench-password-1"))
        roles.set_role(ctx, SYSTEM, "BENCH", "holder", Role.COLLABORATOR)  # reads BENCH
    else:
        with ctx.db.read() as db:
            subjects = list(db.scalars(select(Subject.stable_id).order_by(Subject.id)))
    with ctx.db.read() as db:
        holder = actor_for(db.scalars(select(User).where(User.login == "holder")).one())
    name = f"bench_{uuid.uuid4().hex[:6]}"
    made = drafts.create(ctx, holder, DatasetCreate(name=name, metadata=META))
    members.change(ctx, holder, made.stable_id, MemberChange(add_subjects=subjects))
    statements = Statements(ctx.db.engine)
    server_before, load = server_cpu(ctx), os.getloadavg()[0]
    started, client_started = time.perf_counter(), time.process_time()
    released = release.release(ctx, holder, made.stable_id)
    spent = time.perf_counter() - started
    client = time.process_time() - client_started
    server = server_cpu(ctx) - server_before
    print(
        f"release: {released.file_count:,} files, {released.byte_count:,} bytes, "
        f"manifest sha256 {released.manifest_sha256}: {spent:.1f} s (target: under 60 s)"
    )
    print(
        f"  CPU: database server {server:.1f} s, this process {client:.1f} s; load average "
        f"{load:.1f} before, {os.getloadavg()[0]:.1f} after, on {os.cpu_count()} cores"
    )
    statements.show()
    started = time.perf_counter()
    head = manifest.open_manifest(ctx, holder, made.stable_id, 1, "sha256")
    size = sum(len(chunk) for chunk in manifest.body(ctx, head))
    print(
        f"manifest export (sha256sum lines): {size:,} bytes in "
        f"{time.perf_counter() - started:.1f} s"
    )
    ctx.close()


def server_cpu(ctx: Context) -> float:
    """CPU seconds used so far by the database's server processes for this catalog (the
    server runs on this machine: /proc), to tell the work from the wait on a busy host."""
    with ctx.db.read() as db:
        name = db.scalar(text("SELECT current_database()"))
        pids = db.scalars(
            text("SELECT pid FROM pg_stat_activity WHERE datname = :name"), {"name": name}
        ).all()
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def fill(ctx: Context, args: argparse.Namespace) -> list[str]:
    total = args.sessions * args.series * args.instances
    print(
        f"bulk-loading {args.sessions} sessions x {args.series} series x {args.instances} "
        f"instances = {total:,} instance and file rows (written as an archive writes them; "
        "no bytes on disk)",
        flush=True,
    )
    started = time.perf_counter()
    subjects = load(ctx, args.sessions, args.series, args.instances)
    with ctx.db.read() as db:
        files = db.scalar(select(func.count(File.id)))
    print(
        f"loaded {len(subjects)} subjects, {args.sessions} sessions, {files:,} files in "
        f"{time.perf_counter() - started:.0f} s",
        flush=True,
    )
    return subjects


if __name__ == "__main__":
    main()
