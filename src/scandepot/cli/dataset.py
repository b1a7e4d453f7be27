"""``scandepot dataset``: datasets through the server's API (docs/datasets.md): create,
show, edit, add, remove, release, validate, send-back, publish, withdraw, new-version,
manifest, history.

A dataset is named by its site-wide ID (``SD_D00001``) or its name. Exit codes: 0 done;
2 refused by the server (credentials, a dataset you may not see or change, metadata that
breaks the schema, a step its state does not allow), with the reason.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from scandepot.cli.remote import TOKEN_HELP, URL_HELP, fail, labels, request

app = typer.Typer(
    help="Datasets: create, fill, release, curate, publish, withdraw, new versions, "
    "manifests, history.",
    no_args_is_help=True,
)

UrlOption = typer.Option(None, "--url", help=URL_HELP)
TokenOption = typer.Option(None, "--token-file", help=TOKEN_HELP)
DatasetArgument = typer.Argument(..., help="The dataset's ID (SD_D00001) or name.")
VersionArgument = typer.Argument(..., help="The version's number.", min=1)
SubjectsOption = typer.Option(
    [], "--subject", "--subjects", help="Subjects as PROJECT/LABEL or SD_S...; repeat or comma."
)
SessionsOption = typer.Option(
    [], "--session", "--sessions", help="Sessions as PROJECT/LABEL or SD_E...; repeat or comma."
)
CommentOption = typer.Option("", "--comment", help="The comment kept with the step.")


def _ask(
    url: str | None, token_file: Path | None, method: str, path: str, ok: int, **kwargs: Any
) -> Any:
    response = request(url, token_file, method, path, ok, **kwargs)
    return None if ok == 204 else response.json()


def _path(dataset: str, *rest: object) -> str:
    return "/".join(["/api/v1/datasets", dataset, *(str(r) for r in rest)]).rstrip("/")


def _metadata(path: Path | None, pairs: list[str]) -> dict[str, Any]:
    """Metadata from a JSON file, and ``field=value`` pairs (a value is JSON if it reads
    as JSON: a list, an object, a number; else a string)."""
    found: dict[str, Any] = {}
    if path is not None:
        try:
            found = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            fail(f"--metadata {path}: {exc}")
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            fail(f"--set {pair!r}: give it as field=value")
        try:
            found[name] = json.loads(value)
        except ValueError:
            found[name] = value
    return found


def _show_version(v: dict[str, Any]) -> None:
    typer.echo(
        f"{v['dataset']} {v['name']} v{v['version']}: {v['state']}"
        + (f", validation {v['validation']}" if v["validation"] else "")
        + (f", {v['file_count']} files, {v['byte_count']} bytes" if v["file_count"] else "")
    )
    if v["manifest_sha256"]:
        typer.echo(f"  manifest sha256 {v['manifest_sha256']}")
    if v.get("inside") and v["inside"]["curator_comment"]:
        typer.echo(f"  curator: {v['inside']['curator_comment']}")
    typer.echo(f"  {v['url']}")


def _show(d: dict[str, Any]) -> None:
    typer.echo(f"{d['id']} {d['name']} (created by {d['created_by']})")
    if d["owners"] is not None:
        typer.echo(f"  owners: {', '.join(d['owners'])}")
    for v in d["versions"]:
        _show_version(v)


@app.command()
def create(
    name: str = typer.Argument(..., help="A new name: letters, digits, '-' and '_'."),
    metadata: Path | None = typer.Option(None, "--metadata", help="A JSON file of metadata."),
    set_: list[str] = typer.Option([], "--set", help="A field as field=value; repeat."),
    url: str | None = UrlOption,
    token_file: Path | None = TokenOption,
) -> None:
    """Create a dataset you own, with version 1 as a draft."""
    body = {"name": name, "metadata": _metadata(metadata, set_)}
    _show(_ask(url, token_file, "POST", "/api/v1/datasets", 201, json=body))


@app.command()
def show(
    dataset: str = DatasetArgument,
    url: str | None = UrlOption,
    token_file: Path | None = TokenOption,
) -> None:
    """A dataset and the versions you may see."""
    _show(_ask(url, token_file, "GET", _path(dataset), 200))


@app.command()
def edit(
    dataset: str = DatasetArgument,
    metadata: Path | None = typer.Option(None, "--metadata", help="A JSON file of fields."),
    set_: list[str] = typer.Option([], "--set", help="A field as field=value; repeat."),
    unset: list[str] = typer.Option([], "--unset", help="A field to remove; repeat."),
    url: str | None = UrlOption,
    token_file: Path | None = TokenOption,
) -> None:
    """Change the draft's metadata: the fields given, and those removed."""
    body: dict[str, Any] = {**_metadata(metadata, set_), **dict.fromkeys(unset)}
    _show_version(_ask(url, token_file, "PATCH", _path(dataset), 200, json=body))


def _members(url: str | None, token_file: Path | None, dataset: str, body: dict[str, Any]) -> None:
    found = _ask(url, token_file, "PATCH", _path(dataset, "members"), 200, json=body)
    for m in found:
        typer.echo(f"{m['kind']}\t{m['id']}\t{m['project']}\t{m['subject']}\t{m['session'] or ''}")
    typer.echo(f"{len(found)} member(s)", err=True)


@app.command()
def add(
    dataset: str = DatasetArgument,
    subjects: list[str] = SubjectsOption,
    sessions: list[str] = SessionsOption,
    url: str | None = UrlOption,
    token_file: Path | None = TokenOption,
) -> None:
    """Add subjects (all their sessions at release) and sessions to the draft."""
    body = {"add_subjects": labels(subjects), "add_sessions": labels(sessions)}
    _members(url, token_file, dataset, body)


@app.command()
def remove(
    dataset: str = DatasetArgument,
    subjects: list[str] = SubjectsOption,
    sessions: list[str] = SessionsOption,
    url: str | None = UrlOption,
    token_file: Path | None = TokenOption,
) -> None:
    """Take subjects and sessions out of the draft."""
    body = {"remove_subjects": labels(subjects), "remove_sessions": labels(sessions)}
    _members(url, token_file, dataset, body)


@app.command("release")
def release_draft(
    dataset: str = DatasetArgument,
    url: str | None = UrlOption,
    token_file: Path | None = TokenOption,
) -> None:
    """Release the draft: frozen, with its manifest; its validation starts."""
    path = _path(dataset, "release")
    _show_version(_ask(url, token_file, "POST", path, 200, timeout=600))


def _step(step: str, help_text: str, *, comment: bool) -> None:
    def command(
        dataset: str = DatasetArgument,
        version: int = VersionArgument,
        text: str = CommentOption,
        url: str | None = UrlOption,
        token_file: Path | None = TokenOption,
    ) -> None:
        body = {"comment": text} if comment else None
        path = _path(dataset, "versions", version, step)
        _show_version(_ask(url, token_file, "POST", path, 200, json=body))

    command.__doc__ = help_text
    app.command(step)(command)


_step("validate", "Validate a released version (curators).", comment=True)
_step("send-back", "Send a released version back with --comment (curators).", comment=True)
_step("publish", "Publish a validated version (owners).", comment=False)
_step("withdraw", "Withdraw a released version; its files are let go (owners).", comment=True)


@app.command("new-version")
def new_version(
    dataset: str = DatasetArgument,
    url: str | None = UrlOption,
    token_file: Path | None = TokenOption,
) -> None:
    """Start a new draft, copied from the last version."""
    _show_version(_ask(url, token_file, "POST", _path(dataset, "versions"), 201))


@app.command()
def manifest(
    dataset: str = DatasetArgument,
    version: int = VersionArgument,
    format: str = typer.Option("json", "--format", help="json or sha256 (sha256sum -c)."),
    url: str | None = UrlOption,
    token_file: Path | None = TokenOption,
) -> None:
    """Write a released version's manifest to standard output."""
    path = _path(dataset, "versions", version, "manifest")
    response = request(url, token_file, "GET", path, 200, params={"format": format}, timeout=600)
    sys.stdout.buffer.write(response.content)


@app.command()
def history(
    dataset: str = DatasetArgument,
    url: str | None = UrlOption,
    token_file: Path | None = TokenOption,
) -> None:
    """Every step of the dataset: when, who, what, on which version, and the comment."""
    for e in _ask(url, token_file, "GET", _path(dataset, "history"), 200):
        version = f"v{e['version']}" if e["version"] else "-"
        typer.echo(f"{e['at']}\t{e['login']}\t{e['action']}\t{version}\t{e['comment']}")
