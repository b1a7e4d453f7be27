"""``scandepot transfer``: copy or move sessions between projects on a server, and follow,
list and cancel transfers.

``copy`` and ``move`` send the request to ``POST /api/v1/transfers``, print the check the
server made (where each session goes, warnings, every problem), then follow the
transfer with a progress bar until it ends and print its report. The server does the
work, as a job: a transfer left (Ctrl-C, ``--no-wait``) goes on there.

``scandepot transfer share`` and ``unshare`` (subjects and sessions shown in another
project without copying) are commands of this group too (cli/transfer_share.py).

Exit codes (``copy``, ``move``, ``status``): 0 verified (a dry run: the check passed;
``--no-wait``: queued); 1 failed (the report says where; a move's source is kept);
2 refused by the server (credentials, a project you may not see, a request that breaks
a rule); 3 refused by the check (nothing was written); 4 cancelled; 5 not finished yet
(``status`` of a queued or running transfer).
"""

from __future__ import annotations

import enum
import json
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

import httpx
import typer

from scandepot.cli import transfer_share
from scandepot.cli.remote import (
    TOKEN_HELP,
    URL_HELP,
    Remote,
    answer_json,
    call,
    fail,
    labels,
    remote_or_fail,
)

VERIFIED, FAILED, REFUSED, CHECK_REFUSED, CANCELLED, RUNNING = 0, 1, 2, 3, 4, 5
ENDED = {"succeeded": VERIFIED, "failed": FAILED, "cancelled": CANCELLED}
URL = "/api/v1/transfers"
MAX_MAP_BYTES = 16 * 1024 * 1024


class OnClash(enum.StrEnum):
    STOP = "stop"
    SKIP = "skip"
    MERGE = "merge"


class Landing(enum.StrEnum):
    ARCHIVE = "archive"
    PREARCHIVE = "prearchive"


app = typer.Typer(
    help="Copy or move sessions between projects; follow, list and cancel transfers.",
    no_args_is_help=True,
)

app.command()(transfer_share.share)
app.command()(transfer_share.unshare)

UrlOption = typer.Option(None, "--url", help=URL_HELP)
TokenOption = typer.Option(None, "--token-file", help=TOKEN_HELP)


def _read_map(path: Path) -> tuple[dict[str, str], dict[str, str]]:
    from scandepot.errors import Invalid
    from scandepot.transfers.labels import read_map

    try:
        if path.stat().st_size > MAX_MAP_BYTES:
            fail(f"{path} is over {MAX_MAP_BYTES // (1024 * 1024)} MiB")
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read the map {path}: {exc}")
    try:
        return read_map(text)
    except Invalid as exc:
        fail(f"{path}: {exc.message}")


def _size(value: int) -> str:
    amount = float(value)
    for unit in ("B", "kB", "MB", "GB"):
        if amount < 1000:
            return f"{int(amount)} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1000
    return f"{amount:.1f} TB"


def print_plan(plan: dict[str, Any]) -> None:
    """The check: where each session goes, the warnings, and every problem."""
    typer.echo(
        f"{plan['kind']} from {plan['source']} to {plan['destination']}: "
        f"{len(plan['sessions'])} session(s), {plan['files']} file(s), {_size(plan['bytes'])}; "
        f"landing in the {plan['landing']}; on a clash: {plan['on_clash']}"
    )
    for s in plan["sessions"]:
        scans = ",".join(scan["label"] for scan in s["scans"]) or "none"
        new = " (new subject)" if s["new_subject"] and s["action"] != "skip" else ""
        typer.echo(
            f"  {s['source_subject']}/{s['source_session']} -> "
            f"{s['dest_subject']}/{s['dest_session']}: {s['action']}{new}; "
            f"scans {scans}; {s['files']} file(s)"
            + (f"; resources {', '.join(s['resources'])}" if s["resources"] else "")
        )
    if plan.get("project_resources"):
        typer.echo(f"  project resources: {', '.join(plan['project_resources'])}")
    for warning in plan["warnings"]:
        typer.echo(f"warning: {warning}")
    for p in plan["problems"]:
        where = f" {p['session']}:" if p.get("session") else ""
        typer.echo(f"problem [{p['code']}]{where} {p['message']}")
    typer.echo("check: OK" if plan["ok"] else f"check: {len(plan['problems'])} problem(s)")


def print_report(report: dict[str, Any]) -> None:
    """Each session's outcome: what was compared and found, what stayed in the source."""
    for item in report["items"]:
        compared = item.get("compared")
        line = f"  {item['source']} -> {item['destination']}: {item['status']}"
        if compared:
            found = "ok" if compared["ok"] else f"{compared['mismatch_count']} mismatch(es)"
            line += (
                f"; {compared['files']} file(s), {_size(compared['bytes'])} compared by "
                f"{' and '.join(compared['by'])}: {found}"
            )
        typer.echo(line)
        for mismatch in (compared or {}).get("mismatches", []):
            typer.echo(f"    mismatch: {mismatch}")
        for left in item.get("left_out") or []:
            typer.echo(f"    not copied: {left}")
        for kept in item.get("kept_in_source") or []:
            typer.echo(f"    kept in {report['source']}: {kept}")
    verdict = "verified" if report["verified"] else report["status"]
    typer.echo(f"transfer {report['id']} {verdict}: {report['message'] or '-'}")


def _exit_code(record: dict[str, Any]) -> int:
    if not record["finished"]:
        return RUNNING
    if record["status"] == "succeeded" and not record["verified"]:
        return FAILED
    return ENDED.get(record["status"], FAILED)


def follow(client: httpx.Client, record: dict[str, Any], poll: float) -> dict[str, Any]:
    """Poll the transfer with a progress bar (in files) until it ends; its last record."""
    url = record["url"]
    with typer.progressbar(
        length=max(record["files_total"], 1), label=f"transfer {record['id']}", file=sys.stderr
    ) as bar:
        shown = 0
        while True:
            done = min(record["files_done"], record["files_total"])
            bar.update(done - shown)
            shown = done
            if record["finished"]:
                return record
            time.sleep(poll)
            record = answer_json(call(client, "GET", url), 200)


def _wait(client: httpx.Client, record: dict[str, Any], poll: float) -> NoReturn:
    try:
        record = follow(client, record, poll)
    except KeyboardInterrupt:
        typer.echo(
            f"\nTransfer {record['id']} goes on on the server: `scandepot transfer status "
            f"{record['id']}` follows it, `scandepot transfer cancel {record['id']}` stops it.",
            err=True,
        )
        raise typer.Exit(130) from None
    report = answer_json(call(client, "GET", record["report_url"]), 200)
    print_report(report)
    raise typer.Exit(_exit_code(report))


def _start(
    remote: Remote, body: dict[str, Any], *, dry_run: bool, wait: bool, poll: float
) -> NoReturn:
    with remote.client() as client:
        r = call(client, "POST", URL, json={**body, "dry_run": dry_run})
        if r.status_code == 200 and dry_run:
            plan = r.json()
            print_plan(plan)
            raise typer.Exit(VERIFIED if plan["ok"] else CHECK_REFUSED)
        if r.status_code == 409 and "plan" in r.json():
            print_plan(r.json()["plan"])
            fail(r.json()["error"]["message"], CHECK_REFUSED)
        record = answer_json(r, 202)
        report = answer_json(call(client, "GET", record["report_url"]), 200)
        if report.get("check"):
            print_plan(report["check"])
        typer.echo(f"transfer {record['id']} queued: {record['url']}")
        if not wait:
            raise typer.Exit(VERIFIED)
        _wait(client, record, poll)


def _run(kind: str, options: dict[str, Any]) -> NoReturn:
    remote = remote_or_fail(options.pop("url"), options.pop("token_file"))
    map_file: Path | None = options.pop("map_file")
    subject_map, session_map = _read_map(map_file) if map_file else ({}, {})
    body = {
        "kind": kind,
        "source": options["source"],
        "destination": options["destination"],
        "sessions": labels(options["sessions"]),
        "subjects": labels(options["subjects"]),
        "subject_map": subject_map,
        "session_map": session_map,
        "subject_rule": options["subject_rule"],
        "session_rule": options["session_rule"],
        "scans": labels(options["scans"]),
        "with_resources": options["with_resources"],
        "deidentify": options["deidentify"],
        "allow_burned_in": options["allow_burned_in"],
        "on_clash": OnClash(options["on_clash"]).value,
        "landing": Landing(options["landing"]).value if options["landing"] else None,
    }
    _start(
        remote, body, dry_run=options["dry_run"], wait=not options["no_wait"], poll=options["poll"]
    )


SourceOption = typer.Option(..., "--from", help="The project the sessions are in.")
DestinationOption = typer.Option(..., "--to", help="The project they go to.")
SessionsOption = typer.Option(
    [], "--sessions", help="Session labels in the source; repeat or separate with commas."
)
SubjectsOption = typer.Option(
    [], "--subjects", help="Subject labels: every session of each; repeat or use commas."
)
MapOption = typer.Option(
    None,
    "--map",
    help="CSV mapping labels, columns subject,new_subject,session,new_session.",
    exists=True,
    dir_okay=False,
)
SubjectRuleOption = typer.Option(
    None, "--subject-rule", help="New subject labels, e.g. '{project}_{label}'."
)
SessionRuleOption = typer.Option(
    None, "--session-rule", help="New session labels, e.g. '{subject}_{label}'."
)
ScansOption = typer.Option(
    [], "--scans", help="Scans by ID (3) or type pattern ('T1*'); commas; default: all."
)
ResourcesOption = typer.Option(
    False, "--with-resources", help="Take the non-DICOM resources at every level too."
)
DeidentifyOption = typer.Option(
    False,
    "--deidentify",
    help="Copy de-identified by the source's export script: new files, DICOM only.",
)
BurnedInOption = typer.Option(
    False,
    "--allow-burned-in",
    help="With --deidentify: let through instances that may show burned-in text.",
)
ClashOption = typer.Option(
    OnClash.STOP, "--on-clash", help="A session label taken in the destination: stop, skip, merge."
)
LandingOption = typer.Option(
    None, "--landing", help="archive or prearchive (default: the destination's choice)."
)
DryRunOption = typer.Option(False, "--dry-run", help="Print the check only; write nothing.")
NoWaitOption = typer.Option(False, "--no-wait", help="Queue it and exit without following.")
PollOption = typer.Option(1.0, "--poll", min=0.1, max=60, help="Seconds between progress checks.")


def _command(kind: str, doc: str) -> Any:
    """``copy`` and ``move``: the same options, one kind each."""

    def command(
        source: str = SourceOption,
        destination: str = DestinationOption,
        sessions: list[str] = SessionsOption,
        subjects: list[str] = SubjectsOption,
        map_file: Path | None = MapOption,
        subject_rule: str | None = SubjectRuleOption,
        session_rule: str | None = SessionRuleOption,
        scans: list[str] = ScansOption,
        with_resources: bool = ResourcesOption,
        deidentify: bool = DeidentifyOption,
        allow_burned_in: bool = BurnedInOption,
        on_clash: OnClash = ClashOption,
        landing: Landing | None = LandingOption,
        dry_run: bool = DryRunOption,
        no_wait: bool = NoWaitOption,
        poll: float = PollOption,
        url: str | None = UrlOption,
        token_file: Path | None = TokenOption,
    ) -> None:
        _run(kind, locals())

    command.__doc__ = doc
    return command


app.command("copy")(
    _command("copy", "Copy sessions into another project: check, copy (hard links), verify.")
)
app.command("move")(
    _command(
        "move",
        "Move sessions into another project: check, copy, verify from the catalog and the "
        "bytes, then delete the source (only what was copied and verified).",
    )
)


@app.command()
def status(
    transfer_id: int = typer.Argument(..., metavar="ID", help="The transfer's number."),
    wait: bool = typer.Option(False, "--wait", help="Follow it until it ends."),
    as_json: bool = typer.Option(False, "--json", help="Print the whole report as JSON."),
    poll: float = PollOption,
    url: str | None = UrlOption,
    token_file: Path | None = TokenOption,
) -> None:
    """A transfer's status, progress and report; the exit status says how it ended."""
    with remote_or_fail(url, token_file).client() as client:
        record = answer_json(call(client, "GET", f"{URL}/{transfer_id}"), 200)
        if wait and not record["finished"]:
            record = follow(client, record, poll)
        report = answer_json(call(client, "GET", record["report_url"]), 200)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        typer.echo(
            f"transfer {report['id']}: {report['kind']} from {report['source']} to "
            f"{report['destination']}, {report['status']}; {report['files_done']} of "
            f"{report['files_total']} file(s); asked by {report['requested_by']}"
        )
        print_report(report)
    raise typer.Exit(_exit_code(report))


@app.command()
def cancel(
    transfer_id: int = typer.Argument(..., metavar="ID", help="The transfer's number."),
    url: str | None = UrlOption,
    token_file: Path | None = TokenOption,
) -> None:
    """Cancel a transfer: a queued one ends now, a running one at its next step."""
    with remote_or_fail(url, token_file).client() as client:
        record = answer_json(call(client, "POST", f"{URL}/{transfer_id}/cancel"), 200)
    state = record["status"] if record["finished"] else "stopping at its next step"
    typer.echo(f"transfer {record['id']}: {state}. {record['message']}".rstrip())


@app.command("list")
def list_transfers(
    project: str | None = typer.Option(None, "--project", help="Only from or into it."),
    limit: int = typer.Option(50, "--limit", min=1, max=1000, help="How many, newest first."),
    url: str | None = UrlOption,
    token_file: Path | None = TokenOption,
) -> None:
    """Transfers you asked for, or from or into projects you may read: ID, kind, source,
    destination, status, files done of all, message (tab-separated)."""
    params: dict[str, Any] = {"limit": limit, **({"project": project} if project else {})}
    with remote_or_fail(url, token_file).client() as client:
        found = answer_json(call(client, "GET", URL, params=params), 200)
    for t in found["items"]:
        typer.echo(
            f"{t['id']}\t{t['kind']}\t{t['source']}\t{t['destination']}\t{t['status']}\t"
            f"{t['files_done']}/{t['files_total']}\t{t['message']}"
        )
