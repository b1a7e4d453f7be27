"""Archiving with notifications on and off; figures for docs/benchmarks.md
("Notifications").

50 staged sessions (2 series of 10 instances each, staged through the real ingest path as
an upload by a user) are built and archived by one builder pass, timed. "Off": no
recipients, no webhook, no sender running. "On": three recipient addresses with every
topic, the uploader and an owner with the export-process series turned on, a webhook,
and the background sender running with a poll of 50 ms and no batching, so that it
dispatches, composes and sends to a real SMTP server (aiosmtpd) and a real HTTP receiver
while the archive runs, contending for the catalog. Every run starts from a fresh data
folder; runs alternate off and on, and the ratio of each pair is printed.

Both runs write the event journal rows: they are part of every archive, whether anyone
is told or not (one row per staged session received, built and archived).
Target: archiving time with notifications on within 5 % of off.

Run: .venv/bin/python bench/notify_archive.py [--repeat 5] [--sessions 50]
         [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench]
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import hmac
import shutil
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, func, select, text  # noqa: E402
from tests.notify.mailserver import MailServer  # noqa: E402

from scandepot.access import roles, users  # noqa: E402
from scandepot.access.actors import SYSTEM  # noqa: E402
from scandepot.access.users import UserCreate  # noqa: E402
from scandepot.archive import projects  # noqa: E402
from scandepot.archive.projects import ProjectCreate  # noqa: E402
from scandepot.catalog.access import Role  # noqa: E402
from scandepot.catalog.archive import Session  # noqa: E402
from scandepot.catalog.notify import Delivery, OutboxMessage  # noqa: E402
from scandepot.cli.common import open_context  # noqa: E402
from scandepot.context import Context  # noqa: E402
from scandepot.db.base import utcnow  # noqa: E402
from scandepot.dicom.synthetic import Series, Study, mr_instance  # noqa: E402
from scandepot.ingest.receive import Source, receive  # noqa: E402
from scandepot.notify import choices, subscriptions, webhooks  # noqa: E402
from scandepot.notify.choices import ChoiceUpdate  # noqa: E402
from scandepot.notify.sender import Sender  # noqa: E402
from scandepot.notify.subscriptions import RecipientCreate  # noqa: E402
from scandepot.notify.webhooks import WebhookCreate  # noqa: E402
from scandepot.prearchive import worker  # noqa: E402
from scandepot.settings import Settings  # noqa: E402

SECRET = "bench-webhook-secret-0123456789"
PER_SERIES = 10


class Hooks(BaseHTTPRequestHandler):
    seen: list[bytes] = []
    bad = 0

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        sign = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(sign, self.headers.get("X-Scandepot-Signature", "")):
            Hooks.bad += 1
        Hooks.seen.append(body)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return None


def make_files(root: Path, sessions: int) -> list[list[Path]]:
    """The instances of each session, made once and reused by every run."""
    studies: list[list[Path]] = []
    for i in range(sessions):
        folder = root / f"{i:03d}"
        if not folder.is_dir():
            folder.mkdir(parents=True)
            study = Study(PatientID=f"P{i:03d}")
            for series in (Series(1, "T1w"), Series(2, "bold")):
                for n in range(1, PER_SERIES + 1):
                    ds = mr_instance(study, series, n, rows=64, columns=64, seed=i * 100 + n)
                    ds.save_as(folder / f"{series.SeriesNumber}-{n}.dcm", enforce_file_format=True)
        studies.append(sorted(folder.glob("*.dcm")))
    return studies


def fresh(settings: Settings) -> Context:
    if settings.database_url:
        engine = create_engine(settings.database_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    ctx = open_context(settings)
    users.ensure_admin(ctx)
    projects.create(ctx, SYSTEM, ProjectCreate(id="BENCH", upload_destination="archive"))
    return ctx


def set_up_notifications(ctx: Context, hook_url: str) -> None:
    """Through the same services as the Manage tab and the user's own page."""
    alice, _ = users.create(
        ctx, SYSTEM, UserCreate(login="alice", email="alice@example.org", password="x" * 16)
    )
    roles.set_role(ctx, SYSTEM, "BENCH", "alice", Role.MEMBER)
    every = ["archived", "process", "attention"]
    for address in ("pi@example.org", "lab@example.org", "it@example.org"):
        subscriptions.add_recipient(
            ctx, SYSTEM, "BENCH", RecipientCreate(address=address, topics=every)
        )
    choices.choose(ctx, users.actor_for(alice), ChoiceUpdate(topics={"process": True}))
    webhooks.add(ctx, SYSTEM, "BENCH", WebhookCreate(url=hook_url, secret=SECRET))


def stage(ctx: Context, studies: list[list[Path]]) -> None:
    for i, paths in enumerate(studies):
        source = Source(
            kind="upload", project="BENCH", subject=f"S{i:03d}", session=f"E{i:03d}", by="alice"
        )
        for path in paths:
            with ctx.store.stage() as staged:
                staged.write(path.read_bytes())
                receive(ctx, staged, source)


def one_run(
    base: Settings, studies: list[list[Path]], *, on: bool, mail: MailServer, hook: str
) -> tuple[float, str]:
    shutil.rmtree(base.data_dir, ignore_errors=True)
    ctx = fresh(base)
    if on:
        set_up_notifications(ctx, hook)
    stage(ctx, studies)
    sender = Sender(ctx).start() if on else None
    later = utcnow() + dt.timedelta(hours=1)
    start = time.perf_counter()
    handled = worker.run_once(ctx, clock=lambda: later)
    elapsed = time.perf_counter() - start
    with ctx.db.read() as db:
        archived = db.scalar(select(func.count()).select_from(Session))
    assert handled == len(studies) and archived == len(studies), (handled, archived)
    note = ""
    if sender is not None:
        note = wait_delivered(ctx, mail)
        sender.stop()
    ctx.close()
    return elapsed, note


def wait_delivered(ctx: Context, mail: MailServer) -> str:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with ctx.db.read() as db:
            pending = db.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.status == Delivery.PENDING.value)
            )
            total = db.scalar(select(func.count()).select_from(OutboxMessage))
        if total and not pending:
            return f"{len(mail.received)} emails, {len(Hooks.seen)} webhook deliveries"
        time.sleep(0.2)
    raise SystemExit("messages still pending after 120 s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sd-notify-"))
    studies = make_files(Path("/tmp/sdbench-notify"), args.sessions)
    mail = MailServer(work).start()
    hooks = ThreadingHTTPServer(("127.0.0.1", 0), Hooks)
    threading.Thread(target=hooks.serve_forever, daemon=True).start()
    hook = f"http://127.0.0.1:{hooks.server_address[1]}/hook"
    base = Settings(
        data_dir=work / "data",
        database_url=args.database_url,
        admin_password="bench-password-1",
        prearchive_quiet_s=0,
        notify_poll_s=0.05,
        notify_batch_s=0,
        log_level="warning",
        **mail.settings(),
    )
    offs, ons, ratios = [], [], []
    for r in range(args.repeat):
        order = (False, True) if r % 2 == 0 else (True, False)
        times: dict[bool, float] = {}
        for on in order:
            times[on], note = one_run(base, studies, on=on, mail=mail, hook=hook)
            if note:
                print(f"  run {r + 1} on: delivered {note}")
        offs.append(times[False])
        ons.append(times[True])
        ratios.append(times[True] / times[False])
        print(
            f"run {r + 1}: off {times[False]:.2f} s, on {times[True]:.2f} s, ratio {ratios[-1]:.3f}"
        )
    catalog = "PostgreSQL" if args.database_url else "SQLite"
    print(f"\n{args.sessions} sessions x {2 * PER_SERIES} instances, {catalog} catalog")
    print(f"archiving, notifications off: median {statistics.median(offs):.2f} s")
    print(f"archiving, notifications on:  median {statistics.median(ons):.2f} s")
    pairs = ", ".join(f"{x:.3f}" for x in ratios)
    print(f"on / off: median of pairs {statistics.median(ratios):.3f} ({pairs})")
    print(f"webhook signatures that did not verify: {Hooks.bad}")
    mail.stop()
    hooks.shutdown()
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
