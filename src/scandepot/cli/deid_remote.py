"""``scandepot deid-script`` and ``scandepot pseudonym``: a project's de-identification
scripts and pseudonym table on a server, through /api/v1/projects/{project}/deid, as
its owners manage them on the Manage tab (docs/deid.md).

Exit codes: 0 done (``test``: the sample passed); 1 ``test`` only: the script refused
the sample or left something identifying in it; 2 refused by the server (credentials, a
project you may not manage, a script that does not load: the line is named).
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Any, NoReturn

import typer

from scandepot.cli.deid import kind_of, read_text
from scandepot.cli.remote import TOKEN_HELP, URL_HELP, fail, request

OK, FAILED, REFUSED = 0, 1, 2
# Large tables go both ways: a request may take up to five minutes.
_request = functools.partial(request, timeout=300)

script_app = typer.Typer(
    help="A project's de-identification scripts on a server: show, set, switch, test.",
    no_args_is_help=True,
)
pseudonym_app = typer.Typer(
    help="A project's pseudonym table on a server: import, export, clear.",
    no_args_is_help=True,
)

UrlOption = typer.Option(None, "--url", help=URL_HELP)
TokenOption = typer.Option(None, "--token-file", help=TOKEN_HELP)
PurposeArgument = typer.Argument(
    ..., help="archive (run as sessions are archived) or export (on the way out)."
)


def _base(project: str) -> str:
    return f"/api/v1/projects/{project}/deid"


def _line(s: dict[str, Any]) -> str:
    state = "on" if s["enabled"] else "off"
    return (
        f"{s['purpose']} v{s['version']}\t{s['kind']}\t{state}\tsha256:{s['sha256'][:12]}\t"
        f"{s['created_at']}\t{s['created_by']}"
    )


@script_app.command("show")
def show(
    project: str,
    purpose: str = PurposeArgument,
    version: int | None = typer.Option(None, "--version", help="This version, not the newest."),
    pixel: bool = typer.Option(False, "--pixel", help="Print the pixel script instead."),
    url: str | None = UrlOption,
    token_file: Path | None = TokenOption,
) -> None:
    """Print PROJECT's script for PURPOSE (its text on stdout, what it is on stderr)."""
    path = f"{_base(project)}/scripts/{purpose}"
    if version is not None:
        path += f"/versions/{version}"
    found = _request(url, token_file, "GET", path, 200).json()
    typer.echo(_line(found), err=True)
    text = found["pixel_text"] if pixel else found["text"]
    sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")


@script_app.command("versions")
def versions(
    project: str,
    purpose: str = PurposeArgument,
    url: str | None = UrlOption,
    token_file: Path | None = TokenOption,
) -> None:
    """List every version of PROJECT's script for PURPOSE, newest first."""
    path = f"{_base(project)}/scripts/{purpose}/versions"
    for found in _request(url, token_file, "GET", path, 200).json():
        typer.echo(_line(found))


@script_app.command("set")
def set_script(
    project: str,
    purpose: str = PurposeArgument,
    script: Path = typer.Argument(..., help="The script file.", show_default=False),
    kind: str | None = typer.Option(
        None, "--kind", help="ctp or profile; default: ctp for XML, profile otherwise."
    ),
    pixel_script: Path | None = typer.Option(
        None, "--pixel-script", help="A CTP DicomPixelAnonymizer script run after the script."
    ),
    disabled: bool = typer.Option(False, "--disabled", help="Save it switched off."),
    url: str | None = UrlOption,
    token_file: Path | None = TokenOption,
) -> None:
    """Save SCRIPT as the newest version of PROJECT's script for PURPOSE (checked by the
    server first: a mistake is refused naming its line, and nothing is saved)."""
    text = read_text(script, "script")
    body = {
        "kind": kind_of(text, kind),
        "text": text,
        "pixel_text": read_text(pixel_script, "pixel script") if pixel_script else "",
        "enabled": not disabled,
    }
    found = _request(url, token_file, "PUT", f"{_base(project)}/scripts/{purpose}", 200, json=body)
    saved = found.json()
    typer.echo(("saved " if saved["changed"] else "unchanged: ") + _line(saved))


def _switch(project: str, purpose: str, enabled: bool, url: str | None, token: Path | None) -> None:
    path = f"{_base(project)}/scripts/{purpose}"
    found = _request(url, token, "PATCH", path, 200, json={"enabled": enabled}).json()
    typer.echo(("" if found["changed"] else "unchanged: ") + _line(found))


@script_app.command("enable")
def enable(
    project: str,
    purpose: str = PurposeArgument,
    url: str | None = UrlOption,
    token_file: Path | None = TokenOption,
) -> None:
    """Switch PROJECT's script for PURPOSE on (a new version with the newest's text)."""
    _switch(project, purpose, True, url, token_file)


@script_app.command("disable")
def disable(
    project: str,
    purpose: str = PurposeArgument,
    url: str | None = UrlOption,
    token_file: Path | None = TokenOption,
) -> None:
    """Switch PROJECT's script for PURPOSE off (a new version, switched off)."""
    _switch(project, purpose, False, url, token_file)


@script_app.command("test")
def test(
    project: str,
    purpose: str = PurposeArgument,
    file: Path | None = typer.Option(None, "--file", help="A DICOM file as the sample."),
    session: str | None = typer.Option(
        None, "--session", help="An archived session as the sample."
    ),
    instance: str | None = typer.Option(
        None, "--instance", help="Its instance (SOP Instance UID); default: its first."
    ),
    script: Path | None = typer.Option(
        None, "--script", help="Test this script file, not the newest saved version."
    ),
    kind: str | None = typer.Option(None, "--kind", help="The --script's kind: ctp or profile."),
    pixel_script: Path | None = typer.Option(None, "--pixel-script"),
    show_all: bool = typer.Option(False, "--all", help="List kept attributes too."),
    url: str | None = UrlOption,
    token_file: Path | None = TokenOption,
) -> None:
    """Test PROJECT's script for PURPOSE (or --script) on a sample instance: each attribute
    before and after, and the verification's findings. Nothing is stored. Exit 1 when
    the sample is refused or not de-identified."""
    if (file is None) == (session is None):
        fail("give one sample: --file or --session")
    data: dict[str, str] = {"purpose": purpose}
    if script is not None:
        text = read_text(script, "script")
        data.update(text=text, kind=kind_of(text, kind))
        if pixel_script is not None:
            data["pixel_text"] = read_text(pixel_script, "pixel script")
    if session is not None:
        data["session"] = session
        if instance:
            data["instance"] = instance
    files = None
    if file is not None:
        try:
            files = {"file": (file.name, file.read_bytes(), "application/dicom")}
        except OSError as exc:
            fail(f"cannot read {file}: {exc.strerror}")
    found = _request(url, token_file, "POST", f"{_base(project)}/test", 200, data=data, files=files)
    _print_test(found.json(), show_all)


def _print_test(result: dict[str, Any], show_all: bool) -> NoReturn:
    typer.echo(f"script: {result['script']}; sample: {result['sample']}")
    for row in result["rows"]:
        if row["action"] != "kept" or show_all:
            before = "-" if row["before"] is None else row["before"]
            after = "-" if row["after"] is None else row["after"]
            typer.echo(f"{row['tag']}\t{row['keyword']}\t{before}\t{after}\t{row['action']}")
    for finding in result["findings"]:
        typer.echo(f"finding: {finding['path']} {finding['keyword']}: {finding['reason']}")
    if result["passed"]:
        typer.echo("passed: nothing identifying found")
        raise typer.Exit(OK)
    typer.echo(f"{result['status']}: {result['message']}", err=True)
    raise typer.Exit(FAILED)


@pseudonym_app.command("import")
def import_table(
    project: str,
    table: Path = typer.Argument(
        ...,
        help="A CSV of kind,original,pseudonym, or CTP's lookup table (a .properties file).",
        show_default=False,
    ),
    replace: bool = typer.Option(
        False, "--replace", help="The file becomes the whole table (default: merged into it)."
    ),
    url: str | None = UrlOption,
    token_file: Path | None = TokenOption,
) -> None:
    """Import TABLE into PROJECT's pseudonym table: every row checked first (each bad row
    printed), nothing imported unless all pass."""
    content = read_text(table, "table", 16 * 1024 * 1024).encode()
    mode = "replace" if replace else "merge"
    form = "properties" if table.name.lower().endswith(".properties") else "csv"
    found = _request(
        url,
        token_file,
        "POST",
        f"{_base(project)}/pseudonyms",
        200,
        params={"mode": mode, "format": form},
        content=content,
        headers={"content-type": "text/csv"},
    ).json()
    typer.echo(
        f"{mode}: {found['added']} added, {found['unchanged']} unchanged, "
        f"{found['removed']} removed; {found['total']} in the table"
    )


@pseudonym_app.command("export")
def export_table(
    project: str,
    output: Path | None = typer.Option(
        None, "-o", "--output", help="Write it here (default: stdout)."
    ),
    url: str | None = UrlOption,
    token_file: Path | None = TokenOption,
) -> None:
    """Print PROJECT's pseudonym table as CSV (kind,original,pseudonym)."""
    text = _request(url, token_file, "GET", f"{_base(project)}/pseudonyms", 200).text
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror}")
    typer.echo(f"wrote {output}", err=True)


@pseudonym_app.command("clear")
def clear_table(
    project: str,
    url: str | None = UrlOption,
    token_file: Path | None = TokenOption,
) -> None:
    """Remove every row of PROJECT's pseudonym table."""
    _request(url, token_file, "DELETE", f"{_base(project)}/pseudonyms", 204)
    typer.echo(f"cleared the pseudonym table of {project}")
