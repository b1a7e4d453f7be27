"""``scandepot clinical``: a project's clinical variables and records on a server, through
/api/v1/projects/{project}/clinical (docs/clinical.md).

Exit codes: 0 done; 1 ``import`` only: rows were refused (each listed with its reasons;
nothing written, or with ``--partial`` the valid rows written); 2 refused by the server
(credentials, a project you may not use, a schema or file that does not fit: every
reason listed).
"""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path
from typing import Any

import typer

from scandepot.cli.remote import TOKEN_HELP, URL_HELP, error_message, fail, print_details, request

OK, FAILED, REFUSED = 0, 1, 2
# Large tables go both ways: a request may take up to five minutes.
_request = functools.partial(request, timeout=300)
MAX_FILE_BYTES = 16 * 1024 * 1024

app = typer.Typer(
    help="A project's clinical variables (a JSON Schema) and records on a server.",
    no_args_is_help=True,
)
UrlOption = typer.Option(None, "--url", help=URL_HELP)
TokenOption = typer.Option(None, "--token-file", help=TOKEN_HELP)
LevelOption = typer.Option("subject", "--level", help="subject or session.")


def _base(project: str) -> str:
    return f"/api/v1/projects/{project}/clinical"


def _read(path: Path, what: str) -> bytes:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            fail(f"the {what} {path} is over {MAX_FILE_BYTES // (1024 * 1024)} MiB")
        return path.read_bytes()
    except OSError as exc:
        fail(f"cannot read the {what} {path}: {exc.strerror}")


@app.command("schema-set")
def schema_set(
    project: str,
    schema: Path = typer.Argument(..., help="A JSON Schema file.", show_default=False),
    level: str = LevelOption,
    url: str | None = UrlOption,
    token_file: Path | None = TokenOption,
) -> None:
    """Save SCHEMA as the newest version of PROJECT's clinical variables for a level,
    and list the records that do not pass it."""
    try:
        body = json.loads(_read(schema, "schema"))
    except ValueError as exc:
        fail(f"{schema} is not JSON: {exc}")
    path = f"{_base(project)}/schema/{level}"
    saved = _request(url, token_file, "PUT", path, 200, json=body).json()
    what = "saved" if saved["changed"] else "unchanged:"
    typer.echo(f"{what} {saved['level']} v{saved['version']}, {len(saved['variables'])} variables")
    found = saved["conformance"]
    if found["failing"]:
        typer.echo(f"{found['failing']} of {found['records']} records do not pass it:")
        for bad in found["nonconforming"]:
            who = bad["subject"] + (f"/{bad['session']}" if bad["session"] else "")
            reasons = "; ".join(f"{p['path']}: {p['message']}" for p in bad["problems"])
            typer.echo(f"  {who} (v{bad['version']}, schema v{bad['schema_version']}): {reasons}")


@app.command("schema-show")
def schema_show(
    project: str,
    level: str = LevelOption,
    version: int | None = typer.Option(None, "--version", help="This version, not the newest."),
    url: str | None = UrlOption,
    token_file: Path | None = TokenOption,
) -> None:
    """Print PROJECT's schema for a level (JSON on stdout, its version on stderr)."""
    path = f"{_base(project)}/schema/{level}"
    if version is not None:
        path += f"/versions/{version}"
    found = _request(url, token_file, "GET", path, 200).json()
    typer.echo(f"{found['level']} v{found['version']}\t{found['created_by']}", err=True)
    typer.echo(json.dumps(found["schema"], indent=2, ensure_ascii=False))


def _report(body: dict[str, Any]) -> None:
    for row in body["rows"]:
        if row["problems"]:
            reasons = "; ".join(
                f"{p['column'] or 'row'}: {p['reason']}" if p["column"] else p["reason"]
                for p in row["problems"]
            )
            typer.echo(f"row {row['row']} ({row['subject'] or 'no subject'}): {reasons}")
    counts = ", ".join(f"{n} {what.replace('_', ' ')}" for what, n in body["counts"].items() if n)
    typer.echo(("written: " if body["written"] else "nothing written: ") + (counts or "no rows"))


@app.command("import")
def import_csv(
    project: str,
    file: Path = typer.Argument(..., help="A CSV file (UTF-8), one row per subject."),
    subject_column: str = typer.Option("subject", "--subject-column"),
    mapping: list[str] = typer.Option(
        [], "--map", help="COLUMN=VARIABLE, for a column not named as its variable."
    ),
    partial: bool = typer.Option(False, "--partial", help="Take the valid rows."),
    ignore_unknown: bool = typer.Option(False, "--ignore-unknown", help="Skip unknown columns."),
    replace: bool = typer.Option(
        False, "--replace", help="A row is the whole record (default: laid over it)."
    ),
    url: str | None = UrlOption,
    token_file: Path | None = TokenOption,
) -> None:
    """Import FILE's rows as PROJECT's subjects' records; a report row by row. Exit 1
    when rows were refused."""
    params: dict[str, Any] = {
        "subject_column": subject_column,
        "mapping": mapping,
        "partial": partial,
        "ignore_unknown": ignore_unknown,
        "mode": "replace" if replace else "merge",
    }
    response = _request(
        url,
        token_file,
        "POST",
        f"{_base(project)}/import",
        200,
        422,
        content=_read(file, "file"),
        params=params,
        headers={"content-type": "text/csv"},
    )
    body = response.json()
    if "rows" not in body:  # the whole file refused
        print_details(response)
        fail(error_message(response))
    _report(body)
    refused = body["counts"]["refused"]
    raise typer.Exit(FAILED if refused else OK)


@app.command("export")
def export(
    project: str,
    format: str = typer.Option("csv", "--format", help="csv or json."),
    level: str = LevelOption,
    deidentified: bool = typer.Option(
        False, "--deidentified", help="By the pseudonyms the project's images leave with."
    ),
    output: Path | None = typer.Option(None, "--output", "-o", help="A file; default stdout."),
    url: str | None = UrlOption,
    token_file: Path | None = TokenOption,
) -> None:
    """Export PROJECT's records of a level as CSV or JSON."""
    params = {"format": format, "level": level, "deidentified": deidentified}
    found = _request(url, token_file, "GET", f"{_base(project)}/export", 200, params=params)
    if output is None:
        sys.stdout.write(found.text)
        return
    partial_name = output.with_name(output.name + ".part")
    try:
        partial_name.write_bytes(found.content)
        os.replace(partial_name, output)
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror}")
    typer.echo(f"wrote {output}", err=True)


@app.command("show")
def show(
    project: str,
    subject: str,
    session: str | None = typer.Option(None, "--session", help="The session's record."),
    history: bool = typer.Option(False, "--history", help="Every version, newest first."),
    url: str | None = UrlOption,
    token_file: Path | None = TokenOption,
) -> None:
    """Print SUBJECT's (or --session's) clinical record as JSON."""
    base = f"/api/v1/projects/{project}"
    path = (
        f"{base}/sessions/{session}/clinical" if session else f"{base}/subjects/{subject}/clinical"
    )
    found = _request(url, token_file, "GET", path + ("/history" if history else ""), 200).json()
    typer.echo(json.dumps(found, indent=2, ensure_ascii=False))
