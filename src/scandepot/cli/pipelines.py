"""``scandepot worker``, ``scandepot pipeline ...`` and ``scandepot job ...``.

Run on a machine that shares the catalog and the file store; they act as the system.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from contextlib import closing
from pathlib import Path
from typing import Any

import typer

from scandepot.access.actors import SYSTEM
from scandepot.catalog.paging import PageRequest
from scandepot.catalog.pipelines import Job, JobStatus
from scandepot.cli.common import (
    DatabaseUrlOption,
    DataDirOption,
    existing_context,
    load_settings,
    open_existing,
    service_errors,
)
from scandepot.context import Context
from scandepot.pipelines import config, jobs
from scandepot.pipelines.config import ConfigUpdate
from scandepot.pipelines.jobs import LaunchRequest
from scandepot.pipelines.records import job_record

pipeline_app = typer.Typer(help="Pipelines and their settings per project.", no_args_is_help=True)
job_app = typer.Typer(help="Pipeline jobs: list, show, log, re-run, cancel.", no_args_is_help=True)


def _context(data_dir: Path | None, database_url: str | None, **settings: Any) -> Context:
    from scandepot import processes

    ctx = existing_context(data_dir, database_url, **settings)
    processes.follow(ctx)  # so that a job launched here reaches Celery workers when configured
    return ctx


def _params(pairs: list[str]) -> dict[str, Any]:
    """KEY=VALUE pairs; values are read as JSON when they parse (numbers, true, false)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            typer.echo(f"error: --param takes KEY=VALUE, not '{pair}'", err=True)
            raise typer.Exit(2)
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def _job_line(job: Job) -> str:
    return f"{job.id}\t{job.pipeline}\t{job.target}\t{job.status}\t{job.message}"


ParamOption = typer.Option([], "--param", help="A parameter as KEY=VALUE (repeatable).")


@pipeline_app.command("list")
def pipeline_list(
    project: str | None = typer.Argument(None, help="Show this project's settings."),
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """List the pipelines, or one project's settings for each."""
    if project is None:
        for name in config.ORDER:
            p = config.info(name)
            typer.echo(f"{p.name}\t{p.title}\t{p.description}")
        return
    ctx = _context(data_dir, database_url)
    with closing(ctx), service_errors():
        for view in config.list_configs(ctx, SYSTEM, project):
            typer.echo(
                f"{view.pipeline.name}\tenabled={view.enabled}\tauto_launch={view.auto_launch}"
                f"\t{json.dumps(view.parameters)}"
            )


@pipeline_app.command("configure")
def pipeline_configure(
    project: str,
    pipeline: str,
    enable: bool | None = typer.Option(None, "--enable/--disable", help="Enable or disable."),
    auto: bool | None = typer.Option(
        None, "--auto-launch/--no-auto-launch", help="Launch on every archived session."
    ),
    params: list[str] = ParamOption,
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Change a project's settings for one pipeline (parameters replace the stored ones)."""
    update = ConfigUpdate(enabled=enable, auto_launch=auto, parameters=_params(params) or None)
    ctx = _context(data_dir, database_url)
    with closing(ctx), service_errors():
        view = config.configure(ctx, SYSTEM, project, pipeline, update)
    typer.echo(
        f"{pipeline}: enabled={view.enabled} auto_launch={view.auto_launch} "
        f"parameters={json.dumps(view.parameters)}"
    )


@pipeline_app.command("launch")
def pipeline_launch(
    project: str,
    session: str,
    pipeline: str,
    scan: str | None = typer.Option(None, "--scan", help="Only this scan of the session."),
    params: list[str] = ParamOption,
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Queue a pipeline on a session (or one scan); prints the job ID."""
    ctx = _context(data_dir, database_url)
    with closing(ctx), service_errors():
        request = LaunchRequest(pipeline, _params(params) or None)
        job = jobs.launch(ctx, SYSTEM, project, session, request, scan=scan)
    typer.echo(f"queued job {job.id}")


@job_app.command("list")
def job_list(
    project: str,
    status: JobStatus | None = typer.Option(None, "--status"),
    pipeline: str | None = typer.Option(None, "--pipeline"),
    session: str | None = typer.Option(None, "--session"),
    limit: int = typer.Option(100, "--limit", min=1, max=1000),
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """List a project's jobs, newest first: ID, pipeline, target, status, message."""
    ctx = _context(data_dir, database_url)
    with closing(ctx), service_errors():
        page = jobs.list_jobs(
            ctx,
            SYSTEM,
            project,
            PageRequest(limit=limit),
            status=status,
            pipeline=pipeline,
            session=session,
        )
    for job in page.items:
        typer.echo(_job_line(job))


def _json_time(value: object) -> str:
    """Times as the API writes them: ISO 8601, UTC as ``Z``."""
    if not isinstance(value, dt.datetime):
        raise TypeError(f"{type(value).__name__} is not JSON")
    return value.isoformat().replace("+00:00", "Z")


def _one(project: str, job_id: int, data_dir: Path | None, database_url: str | None) -> Job:
    ctx = _context(data_dir, database_url)
    with closing(ctx), service_errors():
        return jobs.get(ctx, SYSTEM, project, job_id)


@job_app.command("show")
def job_show(
    project: str,
    job_id: int,
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Print one job's record as JSON (without its log)."""
    record = job_record(project, _one(project, job_id, data_dir, database_url))
    typer.echo(json.dumps(record, indent=2, default=_json_time))


@job_app.command("log")
def job_log(
    project: str,
    job_id: int,
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Print one job's log."""
    typer.echo(_one(project, job_id, data_dir, database_url).log, nl=False)


@job_app.command("rerun")
def job_rerun(
    project: str,
    job_id: int,
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Queue a finished job again (same pipeline, target, parameters)."""
    ctx = _context(data_dir, database_url)
    with closing(ctx), service_errors():
        job = jobs.rerun(ctx, SYSTEM, project, job_id)
    typer.echo(f"queued job {job.id}")


@job_app.command("cancel")
def job_cancel(
    project: str,
    job_id: int,
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Cancel a queued job, or ask a running one to stop."""
    ctx = _context(data_dir, database_url)
    with closing(ctx), service_errors():
        job = jobs.cancel(ctx, SYSTEM, project, job_id)
    typer.echo(
        f"job {job.id}: {job.status}" + (" (stop requested)" if job.cancel_requested else "")
    )


def worker(
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseUrlOption,
    broker: str | None = typer.Option(
        None, "--broker", help="Celery broker URL (env SCANDEPOT_CELERY_BROKER_URL)."
    ),
    queue: str | None = typer.Option(None, "--queue", help="Queue (env SCANDEPOT_CELERY_QUEUE)."),
    concurrency: int | None = typer.Option(
        None, "--concurrency", min=1, help="Jobs at once (env SCANDEPOT_PIPELINE_WORKERS)."
    ),
) -> None:
    """Run every kind of background job from the Celery queue (pipelines, transfers,
    pushes, DataLad, validations), notifications and retention, against the shared
    catalog and file store."""
    from scandepot import processes

    settings = load_settings(
        data_dir=data_dir,
        database_url=database_url,
        celery_broker_url=broker,
        celery_queue=queue,
        pipeline_workers=concurrency,
    )
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s %(name)s: %(message)s"
    )
    ctx = open_existing(settings)
    parts = processes.Parts()
    try:
        app = processes.worker(ctx, parts)
        typer.echo(
            f"scandepot worker: queue '{settings.celery_queue}' on "
            f"{settings.celery_broker_url}, {settings.pipeline_workers} job(s) at once"
        )
        # Threads, not forked children: each job's heavy work runs in dcm2niix or numpy,
        # and one process keeps one pool of catalog connections.
        app.Worker(
            pool="threads",
            concurrency=settings.pipeline_workers,
            queues=[settings.celery_queue],
            loglevel=settings.log_level.upper(),
            without_gossip=True,
            without_mingle=True,
            without_heartbeat=True,
        ).start()
    finally:
        parts.stop()
        ctx.close()
