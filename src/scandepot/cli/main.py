"""The ``scandepot`` command."""

from __future__ import annotations

import json
import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from scandepot import __version__
from scandepot.cli import (
    client,
    clinical,
    datalad,
    dataset,
    dataset_access,
    deid_remote,
    dicom_nodes,
    drop_account,
    mail,
    pipelines,
    push,
    push_destination,
    selection,
    stopping,
    transfer,
    user,
    webhook,
)
from scandepot.cli import deid as deid_cli
from scandepot.cli import notify as notify_cli
from scandepot.cli import prearchive as prearchive_cli
from scandepot.cli import retention as retention_cli
from scandepot.cli.common import (
    DatabaseUrlOption,
    DataDirOption,
    load_settings,
    open_context,
    open_existing,
)
from scandepot.errors import ScandepotError

if TYPE_CHECKING:
    from scandepot.context import Context
    from scandepot.processes import Parts, Served
    from scandepot.settings import Settings

# The server's parts (FastAPI, the web pages, the receiver, the pipelines) are imported
# by the commands that run them: `scandepot upload` and the other client commands start
# without paying for them.

app = client.new_app()


@app.command()
def serve(
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseUrlOption,
    host: str | None = typer.Option(
        None, "--host", help="Address to bind (env SCANDEPOT_HTTP_HOST)."
    ),
    port: int | None = typer.Option(None, "--port", help="HTTP port (env SCANDEPOT_HTTP_PORT)."),
    no_dicom: bool = typer.Option(
        False,
        "--no-dicom",
        help="Neither receive DICOM nor build the prearchive: a web server beside "
        "`scandepot dicom` processes (env SCANDEPOT_DICOM_ENABLED=false).",
    ),
) -> None:
    """Run the archive: migrate the catalog, create the admin account, serve HTTP, receive
    DICOM and run pipeline jobs (with the local executor)."""
    settings = load_settings(
        data_dir=data_dir,
        database_url=database_url,
        http_host=host,
        http_port=port,
        dicom_enabled=False if no_dicom else None,
    )
    _log_to_stderr(settings)
    ctx = open_context(settings)
    ctx.store.clean()
    _ensure_admin(ctx)
    _serve(ctx)


def _log_to_stderr(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s %(name)s: %(message)s"
    )


def _ensure_admin(ctx: Context) -> None:
    """Create the site admin account at the first start, showing its password once."""
    from scandepot.access.users import ADMIN_LOGIN, ensure_admin

    try:
        password = ensure_admin(ctx)
    except ScandepotError as exc:
        ctx.close()
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from None
    if password is not None:
        typer.echo(
            f"Created the site admin account '{ADMIN_LOGIN}' with password: {password}\n"
            "It is shown only this once. Set SCANDEPOT_ADMIN_PASSWORD before the first start "
            "to choose it instead."
        )


def _serve(ctx: Context) -> None:
    """Serve HTTP, run pipeline jobs and receive DICOM until a signal ends the process;
    then stop every part and close ``ctx``. Without DICOM (a web server beside
    ``scandepot dicom`` processes) the receiver and the prearchive builder are theirs; the
    executor is still the one the settings choose: under Celery it only sends jobs to the
    broker, under the local executor this process runs them."""
    import uvicorn

    from scandepot import processes
    from scandepot.app import create_app
    from scandepot.http import server

    settings = ctx.settings
    app_ = create_app(ctx=ctx, install_pipelines=False)  # processes.serve installs it
    stopping.exit_on_signals()
    parts = processes.Parts()
    try:
        with _listening(ctx):
            served = processes.serve(ctx, parts, with_dicom=settings.dicom_enabled)
        _announce(settings, served)
        config = server.config(
            app_,
            host=settings.http_host,
            port=settings.http_port,
            log_level=settings.log_level,
            h11_max_incomplete_event_size=settings.max_header_bytes,
            server_header=False,
        )
        uvicorn.Server(config).run()
    finally:
        parts.stop()
        ctx.close()


def _announce(settings: Settings, served: Served) -> None:
    """Where the data is and what the server listens on."""
    receiver, sftp = served.receiver, served.sftp
    typer.echo(
        f"scandepot {__version__}: data in {settings.data_dir.resolve()}, "
        f"serving on http://{settings.http_host}:{settings.http_port}/"
        + (
            f", DICOM {settings.ae_title} on {settings.dicom_host}:{receiver.port}"
            if receiver is not None
            else ", no DICOM"
        )
        + (f", SFTP on {settings.sftp_host}:{sftp.port}" if sftp is not None else "")
    )


@contextmanager
def _listening(ctx: Context) -> Iterator[None]:
    """A port that cannot be bound ends the command with one line and exit code 2 (the
    caller stops what was started)."""
    try:
        yield
    except OSError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def _until_signalled(parts: Parts, ctx: Context) -> None:
    """Wait for SIGINT or SIGTERM, then stop ``parts`` and close ``ctx``."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        stop.wait()
    finally:
        parts.stop()
        ctx.close()


@app.command()
def sftp(
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseUrlOption,
    port: int | None = typer.Option(None, "--port", help="SFTP port (env SCANDEPOT_SFTP_PORT)."),
) -> None:
    """Run only the SFTP server (drop accounts and researchers' read-only folders)."""
    from scandepot import processes

    settings = load_settings(data_dir=data_dir, database_url=database_url, sftp_port=port)
    _log_to_stderr(settings)
    ctx = open_context(settings)
    parts = processes.Parts()
    try:
        with _listening(ctx):
            server = processes.sftp(ctx, parts)
    except BaseException:
        parts.stop()
        ctx.close()
        raise
    typer.echo(f"SFTP on {settings.sftp_host}:{server.port}")
    _until_signalled(parts, ctx)


@app.command()
def dicom(
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseUrlOption,
    port: int | None = typer.Option(None, "--port", help="DICOM port (env SCANDEPOT_DICOM_PORT)."),
) -> None:
    """Run only the DICOM receiver and the prearchive builder (to scale out receiving);
    what it archives has the effects it has in ``serve``."""
    from scandepot import processes

    settings = load_settings(data_dir=data_dir, database_url=database_url, dicom_port=port)
    _log_to_stderr(settings)
    ctx = open_context(settings)
    parts = processes.Parts()
    try:
        with _listening(ctx):
            receiver = processes.dicom(ctx, parts)
    except BaseException:
        parts.stop()
        ctx.close()
        raise
    typer.echo(f"DICOM {settings.ae_title} on {settings.dicom_host}:{receiver.port}")
    _until_signalled(parts, ctx)


@app.command()
def migrate(
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Bring the catalog schema up to date (serve does this too, at every start)."""
    from scandepot.db.migrate import current_revision

    settings = load_settings(data_dir=data_dir, database_url=database_url)
    ctx = open_context(settings)
    typer.echo(f"catalog at revision {current_revision(ctx.db)}")
    ctx.close()


@app.command()
def check(
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseUrlOption,
    quick: bool = typer.Option(False, "--quick", help="Compare sizes only, skip checksums."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Prove that the catalog and the file store agree; exit 1 when they do not."""
    from scandepot.archive.check import check as check_archive

    settings = load_settings(data_dir=data_dir, database_url=database_url)
    ctx = open_existing(settings)
    try:
        report = check_archive(ctx, checksums=not quick)
    finally:
        ctx.close()
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "ok": report.ok,
                    "checked": report.checked,
                    "missing": report.missing,
                    "uncatalogued": report.uncatalogued,
                    "mismatched": report.mismatched,
                },
                indent=2,
            )
        )
    else:
        for title, items in (
            ("missing (catalogued, not on disk)", report.missing),
            ("not catalogued (on disk only)", report.uncatalogued),
            ("size or checksum differs", report.mismatched),
        ):
            for item in items:
                typer.echo(f"{title}: {item}")
        verdict = "OK" if report.ok else "DAMAGED"
        problems = len(report.missing) + len(report.uncatalogued) + len(report.mismatched)
        typer.echo(f"{verdict}: {report.checked} catalogued files checked, {problems} problem(s).")
    if not report.ok:
        raise typer.Exit(1)


app.add_typer(user.app, name="user")
app.add_typer(dicom_nodes.app, name="dicom-node")
app.add_typer(push_destination.app, name="push-destination")
app.add_typer(webhook.app, name="webhook")
app.add_typer(prearchive_cli.app, name="prearchive")
app.add_typer(notify_cli.app, name="notify")
app.add_typer(retention_cli.app, name="retention")
app.add_typer(mail.app, name="mail")
app.registered_commands += client.app.registered_commands  # upload, download, login
app.add_typer(pipelines.pipeline_app, name="pipeline")
app.add_typer(pipelines.job_app, name="job")
app.add_typer(transfer.app, name="transfer")
app.add_typer(push.app, name="push")
app.add_typer(selection.app, name="selection")
app.command("worker")(pipelines.worker)
app.command("deid")(deid_cli.deid)
app.add_typer(deid_remote.script_app, name="deid-script")
app.add_typer(deid_remote.pseudonym_app, name="pseudonym")
app.add_typer(clinical.app, name="clinical")
app.add_typer(drop_account.app, name="drop-account")
app.add_typer(drop_account.keys_app, name="ssh-key")
app.add_typer(dataset_access.app, name="dataset-access")
app.add_typer(dataset.app, name="dataset")
app.add_typer(datalad.app, name="datalad")


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def main() -> None:
    app()
