"""``scandepot push-destination``: the nodes pushes go to (acts as the system).

A secret is never an option (shells keep their history): ``--secret-stdin`` reads it
from the standard input, ``--secret-env`` names the environment variable the server reads
it from when it sends.
"""

from __future__ import annotations

import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import typer

from scandepot.access.actors import SYSTEM
from scandepot.cli.common import (
    DatabaseUrlOption,
    DataDirOption,
    existing_context,
    service_errors,
    valid_input,
)
from scandepot.push import destinations
from scandepot.push.destinations import DestinationChange, DestinationCreate, DestinationView

app = typer.Typer(
    help="Manage push destinations: DICOMweb, DICOM C-STORE and XNAT nodes pushes go to.",
    no_args_is_help=True,
)

URL = typer.Option(None, "--url", help="DICOMweb root or XNAT base URL (http or https).")
AE_TITLE = typer.Option(None, "--ae-title", help="dimse: the peer's AE title.")
HOST = typer.Option(None, "--host", help="dimse: the peer's host.")
PORT = typer.Option(None, "--port", help="dimse: the peer's DICOM port.")
CALLING_AE = typer.Option(None, "--calling-ae", help="dimse: our AE title (default: ae_title).")
REMOTE = typer.Option(None, "--remote-project", help="xnat: the project on the far side.")
AUTH = typer.Option(None, "--auth", help="none, basic or bearer.")
USERNAME = typer.Option(None, "--username", help="basic: the user name.")
SECRET_STDIN = typer.Option(
    False, "--secret-stdin", help="Read the password or token from the standard input."
)
SECRET_ENV = typer.Option(
    None, "--secret-env", help="The environment variable that holds the secret ('' clears)."
)
VERIFY = typer.Option(None, "--verify-tls/--no-verify-tls", help="Check the TLS certificate.")
CA_BUNDLE = typer.Option(None, "--ca-bundle", help="CA certificates (PEM) to trust.")
CLIENT_CERT = typer.Option(None, "--client-cert", help="Client certificate (PEM).")
CLIENT_KEY = typer.Option(None, "--client-key", help="Its private key (PEM).")
EXTERNAL = typer.Option(
    None, "--external/--internal", help="External: nothing leaves without a script."
)
SCRIPT_KIND = typer.Option(None, "--script-kind", help="profile or ctp ('' removes).")
SCRIPT = typer.Option(None, "--script", help="File holding the de-identification script.")
PIXEL_SCRIPT = typer.Option(None, "--pixel-script", help="File holding a CTP pixel script.")
CONCURRENCY = typer.Option(
    None, "--concurrency", help="Batches (requests, associations) in flight at once, 1 to 32."
)
ATTEMPTS = typer.Option(None, "--max-attempts", help="Tries of one instance before it fails.")
CLINICAL = typer.Option(None, "--clinical", help="'', rest or xnat: clinical data along.")
CLINICAL_URL = typer.Option(None, "--clinical-url", help="rest: where the records go.")
ENABLED = typer.Option(None, "--enabled/--disabled", help="Whether pushes may use it.")
DESCRIPTION = typer.Option(None, "--description")


def _given(
    secret_stdin: bool, script: Path | None, pixel_script: Path | None, **options: Any
) -> dict[str, Any]:
    """The options given, as the service's fields; files and stdin read now."""
    fields = {key: value for key, value in options.items() if value is not None}
    if secret_stdin:
        fields["secret"] = sys.stdin.readline().rstrip("\r\n")
    try:
        if script is not None:
            fields["script_text"] = script.read_text(encoding="utf-8")
        if pixel_script is not None:
            fields["script_pixel_text"] = pixel_script.read_text(encoding="utf-8")
    except (OSError, UnicodeError) as exc:
        typer.echo(f"error: cannot read the script: {exc}", err=True)
        raise typer.Exit(1) from None
    return fields


def _show(view: DestinationView) -> None:
    address = view.url or f"{view.ae_title}@{view.host}:{view.port}"
    typer.echo(f"{view.name}\t{view.kind}\t{address}")
    for key, value in (
        ("description", view.description),
        ("remote project", view.remote_project),
        ("calling AE", view.calling_ae),
        ("auth", view.auth),
        ("username", view.username),
        ("secret", "set" if view.secret_set else "not set"),
        ("secret from", f"${view.secret_env}" if view.secret_env else None),
        ("TLS verify", view.verify_tls),
        ("CA bundle", view.ca_bundle),
        ("client certificate", view.client_cert),
        ("external", view.external),
        ("script", f"{view.script_kind} v{view.script_version}" if view.script_kind else None),
        ("concurrency", view.concurrency),
        ("max attempts", view.max_attempts),
        ("clinical", f"{view.clinical} {view.clinical_url or ''}".strip() or None),
        ("enabled", view.enabled),
        ("projects", ", ".join(view.projects) or "none"),
    ):
        if value is not None:
            typer.echo(f"  {key}: {value}")


@app.command("add")
def add(
    name: str,
    kind: str = typer.Option(..., "--kind", help="dicomweb, dimse or xnat."),
    url: str | None = URL,
    ae_title: str | None = AE_TITLE,
    host: str | None = HOST,
    port: int | None = PORT,
    calling_ae: str | None = CALLING_AE,
    remote_project: str | None = REMOTE,
    auth: str | None = AUTH,
    username: str | None = USERNAME,
    secret_stdin: bool = SECRET_STDIN,
    secret_env: str | None = SECRET_ENV,
    verify_tls: bool | None = VERIFY,
    ca_bundle: str | None = CA_BUNDLE,
    client_cert: str | None = CLIENT_CERT,
    client_key: str | None = CLIENT_KEY,
    external: bool | None = EXTERNAL,
    script_kind: str | None = SCRIPT_KIND,
    script: Path | None = SCRIPT,
    pixel_script: Path | None = PIXEL_SCRIPT,
    concurrency: int | None = CONCURRENCY,
    max_attempts: int | None = ATTEMPTS,
    clinical: str | None = CLINICAL,
    clinical_url: str | None = CLINICAL_URL,
    enabled: bool | None = ENABLED,
    description: str | None = DESCRIPTION,
    project: list[str] = typer.Option([], "--project", help="A project allowed (repeat)."),
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Set up a push destination."""
    options = {k: v for k, v in locals().items() if k not in ("data_dir", "database_url")}
    options["projects"] = options.pop("project")
    with valid_input():
        data = DestinationCreate(**_given(**options))
    ctx = existing_context(data_dir, database_url)
    with closing(ctx), service_errors():
        view = destinations.add(ctx, SYSTEM, data)
    typer.echo(f"added push destination {view.name}")


@app.command("change")
def change(
    name: str,
    url: str | None = URL,
    ae_title: str | None = AE_TITLE,
    host: str | None = HOST,
    port: int | None = PORT,
    calling_ae: str | None = CALLING_AE,
    remote_project: str | None = REMOTE,
    auth: str | None = AUTH,
    username: str | None = USERNAME,
    secret_stdin: bool = SECRET_STDIN,
    secret_env: str | None = SECRET_ENV,
    verify_tls: bool | None = VERIFY,
    ca_bundle: str | None = CA_BUNDLE,
    client_cert: str | None = CLIENT_CERT,
    client_key: str | None = CLIENT_KEY,
    external: bool | None = EXTERNAL,
    script_kind: str | None = SCRIPT_KIND,
    script: Path | None = SCRIPT,
    pixel_script: Path | None = PIXEL_SCRIPT,
    concurrency: int | None = CONCURRENCY,
    max_attempts: int | None = ATTEMPTS,
    clinical: str | None = CLINICAL,
    clinical_url: str | None = CLINICAL_URL,
    enabled: bool | None = ENABLED,
    description: str | None = DESCRIPTION,
    clear_secret: bool = typer.Option(False, "--clear-secret", help="Forget the secret."),
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Change a push destination: what is given changes, the rest stays."""
    options = {k: v for k, v in locals().items() if k not in ("data_dir", "database_url")}
    options.pop("name")
    fields = _given(**{k: v for k, v in options.items() if k != "clear_secret"})
    if clear_secret:
        fields["secret"] = ""
    with valid_input():
        data = DestinationChange(**fields)
    ctx = existing_context(data_dir, database_url)
    with closing(ctx), service_errors():
        view = destinations.change(ctx, SYSTEM, name, data)
    typer.echo(f"changed push destination {view.name}")


@app.command("list")
def list_destinations(
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """List the push destinations: name, kind, address, projects, enabled."""
    ctx = existing_context(data_dir, database_url)
    with closing(ctx), service_errors():
        for view in destinations.list_destinations(ctx, SYSTEM):
            address = view.url or f"{view.ae_title}@{view.host}:{view.port}"
            state = "enabled" if view.enabled else "disabled"
            projects = ",".join(view.projects) or "-"
            typer.echo("\t".join((view.name, view.kind, address, projects, state)))


@app.command("show")
def show(
    name: str,
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Show a push destination (whether a secret is set, never the secret)."""
    ctx = existing_context(data_dir, database_url)
    with closing(ctx), service_errors():
        _show(destinations.show(ctx, SYSTEM, name))


@app.command("remove")
def remove(
    name: str,
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Remove a push destination; reports of its pushes keep its name."""
    ctx = existing_context(data_dir, database_url)
    with closing(ctx), service_errors():
        destinations.remove(ctx, SYSTEM, name)
    typer.echo(f"removed push destination {name.strip()}")


@app.command("allow")
def allow(
    name: str,
    project: str,
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Let a project push to the destination."""
    ctx = existing_context(data_dir, database_url)
    with closing(ctx), service_errors():
        destinations.allow(ctx, SYSTEM, name, project)
    typer.echo(f"project {project} may push to {name.strip()}")


@app.command("disallow")
def disallow(
    name: str,
    project: str,
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Stop a project pushing to the destination."""
    ctx = existing_context(data_dir, database_url)
    with closing(ctx), service_errors():
        destinations.disallow(ctx, SYSTEM, name, project)
    typer.echo(f"project {project} may no longer push to {name.strip()}")


@app.command("check")
def check(
    name: str,
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Reach the destination once; exit code 1 and the reason when it cannot be reached."""
    ctx = existing_context(data_dir, database_url)
    with closing(ctx), service_errors():
        checked = destinations.check(ctx, SYSTEM, name)
    if not checked.ok:
        typer.echo(f"error: {checked.name}: {checked.reason}", err=True)
        raise typer.Exit(1)
    typer.echo(f"{checked.name}: reached")
