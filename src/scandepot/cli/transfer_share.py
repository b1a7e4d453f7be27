"""``scandepot transfer share`` and ``unshare``: subjects and sessions of one project shown
in another under labels there, without copying (docs/transfers.md#sharing).

Each object is one request (``PUT`` or ``DELETE
/api/v1/projects/{project}/{subjects|sessions}/{label}/shares/{into}``); every one is
tried and each refusal printed. Exit codes: 0 every object done, 2 one or more refused.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import typer

from scandepot.cli.remote import TOKEN_HELP, URL_HELP, Refused, error_message, resolve

DONE, REFUSED = 0, 2

FromOption = typer.Option(..., "--from", help="The project the subjects and sessions are in.")
ToOption = typer.Option(..., "--to", help="The project they are shown in.")
SessionsOption = typer.Option([], "--sessions", help="Session labels (repeat or comma-separate).")
SubjectsOption = typer.Option([], "--subjects", help="Subject labels (repeat or comma-separate).")
LabelOption = typer.Option(
    None, "--label", help="The label in the other project (one object only; default: its own)."
)
UrlOption = typer.Option(None, "--url", help=URL_HELP)
TokenOption = typer.Option(None, "--token-file", help=TOKEN_HELP)


def _objects(subjects: list[str], sessions: list[str]) -> list[tuple[str, str]]:
    split = [("subjects", v.strip()) for value in subjects for v in value.split(",")]
    split += [("sessions", v.strip()) for value in sessions for v in value.split(",")]
    return [(kind, label) for kind, label in split if label]


def _each(
    method: str,
    source: str,
    into: str,
    objects: list[tuple[str, str]],
    label: str | None,
    url: str | None,
    token_file: Path | None,
) -> None:
    if not objects:
        typer.echo("error: name at least one subject or session.", err=True)
        raise typer.Exit(REFUSED)
    if label is not None and len(objects) > 1:
        typer.echo("error: --label names the label of one object only.", err=True)
        raise typer.Exit(REFUSED)
    try:
        remote = resolve(url, token_file)
    except Refused as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(REFUSED) from None
    refused = 0
    verb = "shared into" if method == "PUT" else "no longer shared into"
    with remote.client() as client:
        for kind, name in objects:
            path = f"/api/v1/projects/{source}/{kind}/{name}/shares/{into}"
            params = {"label": label} if label else None
            try:
                r = client.request(method, path, params=params)
            except httpx.TransportError as exc:
                typer.echo(f"error: cannot reach the server: {exc}", err=True)
                raise typer.Exit(REFUSED) from None
            if r.status_code in (200, 204):
                there = f" as {r.json()['label']}" if method == "PUT" else ""
                typer.echo(f"{kind[:-1]} {name}: {verb} {into}{there}")
            else:
                refused += 1
                typer.echo(f"{kind[:-1]} {name}: {error_message(r)}", err=True)
    raise typer.Exit(REFUSED if refused else DONE)


def share(
    source: str = FromOption,
    into: str = ToOption,
    subjects: list[str] = SubjectsOption,
    sessions: list[str] = SessionsOption,
    label: str | None = LabelOption,
    url: str | None = UrlOption,
    token_file: Path | None = TokenOption,
) -> None:
    """Show subjects or sessions in another project, read-only there, without copying."""
    _each("PUT", source, into, _objects(subjects, sessions), label, url, token_file)


def unshare(
    source: str = FromOption,
    into: str = ToOption,
    subjects: list[str] = SubjectsOption,
    sessions: list[str] = SessionsOption,
    url: str | None = UrlOption,
    token_file: Path | None = TokenOption,
) -> None:
    """Stop showing subjects or sessions in another project (a subject takes its shared
    sessions with it)."""
    _each("DELETE", source, into, _objects(subjects, sessions), None, url, token_file)
