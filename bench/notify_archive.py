"""Archiving with notifications on and off; figures for docs/benchmarks.md
("Notifications").

50 staged sessions (2 series of 10 instances each, staged through the real ingest path as
an upload by a user) are built and archived by one builder pass, timed. "Off": no
recipients, no webhook, no sender running. "On": three recipient addresses with every
topic, the uploader with the export-process series turned on, a webhook, and the
background sender running with the default settings (a pass every 5 s, messages batched
for 60 s), sending to a real SMTP server (aiosmtpd) and a real HTTP receiver, each in a process
of its own. "Eager":
the same with a pass every 50 ms and nothing batched, so that the sender dispatches,
composes and sends while the archive runs, contending for the catalog: the worst case.
After each timed run what it left is sent (not timed), and the outbox's states are
printed to show it arrived (a webhook delivery whose signature did not verify would be
refused).
Every run starts from a fresh data
folder; runs alternate in order, and the ratio of each to its off run is printed.

Every run writes the event journal rows: they are part of every archive, whether anyone
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
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, func, select, text  # noqa: E402

from scandepot.access import roles, users  # noqa: E402
from scandepot.access.actors import SYSTEM  # noqa: E402
from scandepot.access.users import UserCreate  # noqa: E402
from scandepot.archive import projects  # noqa: E402
from scandepot.archive.projects import ProjectCreate  # noqa: E402
from scandepot.catalog.access import Role  # noqa: E402
from scandepot.catalog.archive import Session  # noqa: E402
from scandepot.catalog.notify import OutboxMessage  # noqa: E402
from scandepot.cli.common import open_context  # noqa: E402
from scandepot.context import Context  # noqa: E402
from scandepot.db.base import utcnow  # noqa: E402
from scandepot.dicom.synthetic import Series, Study, mr_instance  # noqa: E402
from scandepot.ingest.receive import Source, receive  # noqa: E402
from scandepot.notify import choices, subscriptions, webhooks  # noqa: E402
from scandepot.notify.choices import ChoiceUpdate  # noqa: E402
from scandepot.notify.sender import Sender, run_once  # noqa: E402
from scandepot.notify.subscriptions import RecipientCreate  # noqa: E402
from scandepot.notify.webhooks import WebhookCreate  # noqa: E402
from scandepot.prearchive import worker  # noqa: E402
from scandepot.settings import Settings  # noqa: E402

SECRET = "bench-webhook-secret-0123456789"
PER_SERIES = 10


class Hooks(BaseHTTPRequestHandler):
    """The webhook receiver (run in a process of its own): 204 for a delivery whose
    signature verifies, 400 for one that does not (the outbox then shows it refused)."""

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        sign = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        good = hmac.compare_digest(sign, self.headers.get("X-Scandepot-Signature", ""))
        self.send_response(204 if good else 400)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return None


def peers(port_mail: int, port_hooks: int) -> list[subprocess.Popen[bytes]]:
    """The SMTP server (aiosmtpd, accepting and dropping) and the webhook receiver, each
    in a process of its own: in this one they would take the interpreter from the archive
    being measured."""
    python = sys.executable
    mail = [python, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port_mail}"]
    mail += ["-c", "aiosmtpd.handlers.Sink"]
    hooks = [python, __file__, "--receiver", str(port_hooks)]
    started = [subprocess.Popen(mail), subprocess.Popen(hooks)]
    for port in (port_mail, port_hooks):
        deadline = time.monotonic() + 20
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if time.monotonic() > deadline:
                raise SystemExit(f"nothing listens on {port}")
            time.sleep(0.05)
    return started


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


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


def one_run(base: Settings, studies: list[list[Path]], mode: str, hook: str) -> tuple[float, str]:
    """Archive the staged sessions once; ``mode`` is off, on (the default poll and batch
    times) or eager (a pass every 50 ms, nothing batched: the sender busiest)."""
    shutil.rmtree(base.data_dir, ignore_errors=True)
    settings = base
    if mode == "eager":
        settings = base.model_copy(update={"notify_poll_s": 0.05, "notify_batch_s": 0.0})
    ctx = fresh(settings)
    if mode != "off":
        set_up_notifications(ctx, hook)
    # Started before the uploads arrive, as in `scandepot serve`: its passes then fall
    # where they fall, during the staging and the archive.
    running = Sender(ctx).start() if mode != "off" else None
    stage(ctx, studies)
    later = utcnow() + dt.timedelta(hours=1)
    start = time.perf_counter()
    handled = worker.run_once(ctx, clock=lambda: later)
    elapsed = time.perf_counter() - start
    with ctx.db.read() as db:
        archived = db.scalar(select(func.count()).select_from(Session))
    assert handled == len(studies) and archived == len(studies), (handled, archived)
    note = ""
    if running is not None:
        running.stop()
        note = flush(ctx)
    ctx.close()
    return elapsed, note


def flush(ctx: Context) -> str:
    """Send what the run left (not timed): passes as if the batch time had passed, until
    nothing waits; then what the outbox says of it."""
    for _ in range(100):
        done = run_once(ctx, now=utcnow() + dt.timedelta(hours=1))
        with ctx.db.read() as db:
            states = dict(
                db.execute(
                    select(
                        OutboxMessage.channel + ":" + OutboxMessage.status, func.count()
                    ).group_by(OutboxMessage.channel, OutboxMessage.status)
                ).all()
            )
        if not any(k.endswith(":pending") for k in states) and not (done.events or done.messages):
            return ", ".join(f"{n} {k}" for k, n in sorted(states.items()))
    raise SystemExit("messages still pending after 100 passes")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sd-notify-"))
    studies = make_files(Path("/tmp/sdbench-notify"), args.sessions)
    port_mail, port_hooks = free_port(), free_port()
    running = peers(port_mail, port_hooks)
    hook = f"http://127.0.0.1:{port_hooks}/hook"
    base = Settings(
        data_dir=work / "data",
        database_url=args.database_url,
        admin_password="bench-password-1",
        prearchive_quiet_s=0,
        log_level="warning",
        smtp_host="127.0.0.1",
        smtp_port=port_mail,
    )
    times: dict[str, list[float]] = {"off": [], "on": [], "eager": []}
    ratios: dict[str, list[float]] = {"on": [], "eager": []}
    for r in range(args.repeat):
        modes = ["off", "on", "eager"] if r % 2 == 0 else ["eager", "on", "off"]
        got: dict[str, float] = {}
        for mode in modes:
            got[mode], note = one_run(base, studies, mode, hook)
            times[mode].append(got[mode])
            if note:
                print(f"  run {r + 1} {mode}: afterwards the outbox holds {note}")
        for mode in ratios:
            ratios[mode].append(got[mode] / got["off"])
        print(
            f"run {r + 1}: off {got['off']:.2f} s, on {got['on']:.2f} s "
            f"({ratios['on'][-1]:.3f}), eager {got['eager']:.2f} s ({ratios['eager'][-1]:.3f})"
        )
    catalog = "PostgreSQL" if args.database_url else "SQLite"
    print(f"\n{args.sessions} sessions x {2 * PER_SERIES} instances, {catalog} catalog")
    for mode in ("off", "on", "eager"):
        print(f"archiving, notifications {mode}: median {statistics.median(times[mode]):.2f} s")
    for mode, found in ratios.items():
        pairs = ", ".join(f"{x:.3f}" for x in found)
        print(f"{mode} / off: median of runs {statistics.median(found):.3f} ({pairs})")
    for process in running:
        process.terminate()
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--receiver"]:
        ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2])), Hooks).serve_forever()
    else:
        main()
