"""``scandepot push``: send sessions of a project, de-identified, to a destination the
site set up; follow, list and cancel pushes.

``scandepot push PROJECT --to DEST --session E1 ...`` (or ``--subject``, or
``--selection NAME``, a saved selection of the project; any of them together) sends the request to
``POST /api/v1/projects/PROJECT/pushes`` and prints the push's number; with ``--wait`` it
follows the push with a progress bar (in instances) until it ends and prints the report.
The server does the work, as a job: a push left (Ctrl-C, no ``--wait``) goes on there.

Exit codes (``push`` with ``--wait``, ``status``): 0 succeeded (without ``--wait``:
queued); 1 failed (the report lists what and why); 2 refused by the server (credentials,
a project or destination you may not use, a session that is not there, no script for an
external destination); 4 cancelled; 5 not finished yet (``status`` of a queued or running
push).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, NoReturn

import httpx
import typer
from typer.core import TyperGroup

from scandepot.cli.remote import (
    TOKEN_HELP,
    URL_HELP,
    answer_json,
    call,
    labels,
    remote_or_fail,
)

SUCCEEDED, FAILED, REFUSED, CANCELLED, RUNNING = 0, 1, 2, 4, 5
ENDED = {"succeeded": SUCCEEDED, "failed": FAILED, "cancelled": CANCELLED}
BY_ID = "/api/v1/pushes"


class _SendByDefault(TyperGroup):
    """``scandepot push PROJECT ...`` is ``scandepot push send PROJECT ...``."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["send", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=_SendByDefault,
    help="Send sessions of a project, de-identified, to a destination; follow, list and "
    "cancel pushes. `scandepot push PROJECT --to DEST --session S` sends.",
    no_args_is_help=True,
)

UrlOption = typer.Option(None, "--url", help=URL_HELP)
TokenOption = typer.Option(None, "--token-file", help=TOKEN_HELP)
PollOption = typer.Option(1.0, "--poll", min=0.1, max=60, help="Seconds between progress checks.")


def _base(project: str) -> str:
    return f"/api/v1/projects/{project}/pushes"


def print_report(record: dict[str, Any]) -> None:
    """The counts, what failed and was refused with the reasons, the script, the times."""
    report = record.get("report") or {}
    counts = report.get("counts") or record["progress"]
    typer.echo(
        f"push {record['id']} of {record['project']} to {record['destination']}: "
        f"{record['status']}; script {record['script'] or 'none'}"
    )
    typer.echo(
        "  instances: "
        + ", ".join(f"{k} {v}" for k, v in counts.items() if v and k not in {"done"})
    )
    for what in ("failed", "refused"):
        rows = report.get(what) or []
        for row in rows:
            typer.echo(
                f"  {what}: {row['session']} scan {row['scan']} {row['sop_uid'] or ''}: "
                f"{row['reason']}"
            )
    for n, run in enumerate(report.get("runs") or [], start=1):
        rate = run.get("instances_per_s")
        typer.echo(
            f"  run {n}: {run.get('status')}, sent {run.get('sent', 0)} in "
            f"{run.get('send_s', 0)} s"
            + (f" ({rate} instances/s)" if rate else "")
            + f", {run.get('rounds', 0)} round(s), {run.get('retried', 0)} retried"
        )
    typer.echo(f"push {record['id']} {record['status']}: {record['message'] or '-'}")


def _exit_code(record: dict[str, Any]) -> int:
    return ENDED.get(record["status"], FAILED) if record["finished"] else RUNNING


def follow(client: httpx.Client, record: dict[str, Any], poll: float) -> dict[str, Any]:
    """Poll the push with a progress bar (in instances) until it ends; its last record."""
    total = max(record["progress"]["total"], 1)
    with typer.progressbar(length=total, label=f"push {record['id']}", file=sys.stderr) as bar:
        shown = 0
        while True:
            done = min(record["progress"]["done"], total)
            bar.update(done - shown)
            shown = done
            if record["finished"]:
                return record
            time.sleep(poll)
            record = answer_json(call(client, "GET", record["url"]), 200)


def _wait(client: httpx.Client, record: dict[str, Any], poll: float) -> NoReturn:
    try:
        record = follow(client, record, poll)
    except KeyboardInterrupt:
        typer.echo(
            f"\nPush {record['id']} goes on on the server: `scandepot push status "
            f"{record['id']}` follows it, `scandepot push cancel {record['id']}` stops it.",
            err=True,
        )
        raise typer.Exit(130) from None
    print_report(record)
    raise typer.Exit(_exit_code(record))


@app.command()
def send(
    project: str = typer.Argument(..., help="The project the sessions are in."),
    to: str = typer.Option(..., "--to", help="The destination's name."),
    sessions: list[str] = typer.Option(
        [], "--session", "--sessions", help="Session labels; repeat or separate with commas."
    ),
    subjects: list[str] = typer.Option(
        [], "--subject", "--subjects", help="Subject labels: every session of each."
    ),
    selection: str | None = typer.Option(
        None, "--selection", help="A saved selection of the project: its sessions too."
    ),
    allow_burned_in: bool = typer.Option(
        False, "--allow-burned-in", help="Let out instances that may show burned-in text."
    ),
    wait: bool = typer.Option(False, "--wait", help="Follow it to its end; print the report."),
    poll: float = PollOption,
    url: str | None = UrlOption,
    token_file: Path | None = TokenOption,
) -> None:
    """Push sessions to a destination (the same as `scandepot push PROJECT ...`)."""
    remote = remote_or_fail(url, token_file)
    body = {
        "destination": to,
        "sessions": labels(sessions),
        "subjects": labels(subjects),
        "selection": selection,
        "allow_burned_in": allow_burned_in,
    }
    with remote.client() as client:
        record = answer_json(call(client, "POST", _base(project), json=body), 202)
        typer.echo(
            f"push {record['id']} queued: {record['progress']['total']} instance(s) of "
            f"{', '.join(record['sessions'])} to {record['destination']} "
            f"(script {record['script'] or 'none'}): {record['url']}"
        )
        if wait:
            _wait(client, record, poll)


@app.command()
def status(
    push_id: int = typer.Argument(..., help="The push's number."),
    wait: bool = typer.Option(False, "--wait", help="Follow it to its end."),
    poll: float = PollOption,
    url: str | None = UrlOption,
    token_file: Path | None = TokenOption,
) -> None:
    """A push's progress and report; exit 5 while it runs."""
    remote = remote_or_fail(url, token_file)
    with remote.client() as client:
        record = answer_json(call(client, "GET", f"{BY_ID}/{push_id}"), 200)
        if wait:
            _wait(client, record, poll)
    print_report(record)
    raise typer.Exit(_exit_code(record))


@app.command("list")
def list_pushes(
    project: str = typer.Argument(..., help="The project."),
    limit: int = typer.Option(50, "--limit", min=1, max=1000, help="Pushes to show."),
    url: str | None = UrlOption,
    token_file: Path | None = TokenOption,
) -> None:
    """The project's pushes, newest first."""
    remote = remote_or_fail(url, token_file)
    with remote.client() as client:
        found = answer_json(call(client, "GET", _base(project), params={"limit": limit}), 200)
    for p in found["items"]:
        typer.echo(
            f"{p['id']}\t{p['status']}\t{p['destination']}\t"
            f"{p['instances_done']}/{p['instances_total']}\t{','.join(p['sessions'])}\t"
            f"{p['requested_by']}\t{p['created_at']}\t{p['message']}"
        )
    typer.echo(f"{found['total']} push(es)", err=True)


@app.command()
def cancel(
    push_id: int = typer.Argument(..., help="The push's number."),
    url: str | None = UrlOption,
    token_file: Path | None = TokenOption,
) -> None:
    """Stop a push: a queued one at once, a running one at its next step."""
    remote = remote_or_fail(url, token_file)
    with remote.client() as client:
        record = answer_json(call(client, "POST", f"{BY_ID}/{push_id}/cancel"), 200)
    typer.echo(f"push {record['id']} {record['status']}: {record['message'] or '-'}")
