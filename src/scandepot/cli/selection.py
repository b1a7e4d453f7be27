"""``scandepot selection``: a project's saved selections of sessions, through the server's
API (docs/selections.md): list, show, save, add, remove, rename, delete.

A selection is pushed by name: ``scandepot push PROJECT --to DEST --selection NAME``.
Exit codes: 0 done; 2 refused by the server (credentials, a project you may not read or
change, a session or selection that is not there, a name taken), with the reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from scandepot.cli.remote import TOKEN_HELP, URL_HELP, labels, request

app = typer.Typer(
    help="A project's saved selections of sessions: list, show, save, add, remove, rename, "
    "delete. Push one with `scandepot push PROJECT --to DEST --selection NAME`.",
    no_args_is_help=True,
)

UrlOption = typer.Option(None, "--url", help=URL_HELP)
TokenOption = typer.Option(None, "--token-file", help=TOKEN_HELP)
SessionsOption = typer.Option(
    [],
    "--session",
    "--sessions",
    help="Sessions by label or site-wide ID; repeat or separate with commas.",
)


def _ask(
    url: str | None, token_file: Path | None, method: str, path: str, ok: int, **kwargs: Any
) -> Any:
    """One request to the server; its JSON answer (None for 204), or exit 2 with why."""
    response = request(url, token_file, method, path, ok, **kwargs)
    return None if ok == 204 else response.json()


def _path(project: str, name: str | None = None) -> str:
    base = f"/api/v1/projects/{project}/selections"
    return base if name is None else f"{base}/{name}"


def _show(found: dict[str, Any]) -> None:
    typer.echo(
        f"{found['name']}: {len(found['sessions'])} session(s), saved by "
        f"{found['created_by']}, changed {found['updated_at']}"
        + (f"; {found['description']}" if found["description"] else "")
    )
    for s in found["sessions"]:
        typer.echo(f"  {s['label']}\t{s['subject']}\t{s['id']}")


@app.command("list")
def list_selections(
    project: str = typer.Argument(..., help="The project."),
    url: str | None = UrlOption,
    token_file: Path | None = TokenOption,
) -> None:
    """The project's selections: name, sessions, who saved it, description."""
    found = _ask(url, token_file, "GET", _path(project), 200)
    for s in found:
        typer.echo(f"{s['name']}\t{len(s['sessions'])}\t{s['created_by']}\t{s['description']}")
    typer.echo(f"{len(found)} selection(s)", err=True)


@app.command()
def show(
    project: str = typer.Argument(..., help="The project."),
    name: str = typer.Argument(..., help="The selection's name."),
    url: str | None = UrlOption,
    token_file: Path | None = TokenOption,
) -> None:
    """A selection's sessions: label, subject, site-wide ID."""
    _show(_ask(url, token_file, "GET", _path(project, name), 200))


@app.command()
def save(
    project: str = typer.Argument(..., help="The project."),
    name: str = typer.Argument(..., help="A new name: letters, digits, '-' and '_'."),
    sessions: list[str] = SessionsOption,
    description: str = typer.Option("", "--description", help="What it is for."),
    url: str | None = UrlOption,
    token_file: Path | None = TokenOption,
) -> None:
    """Save sessions under a new name."""
    body = {"name": name, "sessions": labels(sessions), "description": description}
    _show(_ask(url, token_file, "POST", _path(project), 201, json=body))


def _change(
    url: str | None, token_file: Path | None, project: str, name: str, body: dict[str, Any]
) -> None:
    _show(_ask(url, token_file, "PATCH", _path(project, name), 200, json=body))


@app.command()
def add(
    project: str = typer.Argument(..., help="The project."),
    name: str = typer.Argument(..., help="The selection's name."),
    sessions: list[str] = SessionsOption,
    url: str | None = UrlOption,
    token_file: Path | None = TokenOption,
) -> None:
    """Add sessions to a selection."""
    _change(url, token_file, project, name, {"add": labels(sessions)})


@app.command()
def remove(
    project: str = typer.Argument(..., help="The project."),
    name: str = typer.Argument(..., help="The selection's name."),
    sessions: list[str] = SessionsOption,
    url: str | None = UrlOption,
    token_file: Path | None = TokenOption,
) -> None:
    """Take sessions out of a selection (the sessions themselves stay)."""
    _change(url, token_file, project, name, {"remove": labels(sessions)})


@app.command()
def rename(
    project: str = typer.Argument(..., help="The project."),
    name: str = typer.Argument(..., help="The selection's name."),
    new_name: str = typer.Argument(..., help="Its new name."),
    url: str | None = UrlOption,
    token_file: Path | None = TokenOption,
) -> None:
    """Give a selection another name."""
    _change(url, token_file, project, name, {"name": new_name})


@app.command()
def delete(
    project: str = typer.Argument(..., help="The project."),
    name: str = typer.Argument(..., help="The selection's name."),
    url: str | None = UrlOption,
    token_file: Path | None = TokenOption,
) -> None:
    """Delete a selection (owners; the sessions stay)."""
    _ask(url, token_file, "DELETE", _path(project, name), 204)
    typer.echo(f"selection {name} deleted")
