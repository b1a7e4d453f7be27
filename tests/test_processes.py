"""Each kind of process (scandepot/processes.py) follows events as ``scandepot serve``
does: a session archived in a receiver, a web server, a worker, a job of the local pool or
a one-off command queues the same jobs (DataLad's among them) and sends them to the Celery
broker, draws the same pictures, keeps the same DICOMweb metadata, and its notifications
and webhooks are queued from the event journal. Each kind runs the parts the table of
processes.py says. Below the network: ports are bound on loopback, nothing is sent to
them."""

from __future__ import annotations

import datetime as dt
import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
import redis
from fastapi import FastAPI
from sqlalchemy import select

from scandepot import processes
from scandepot.access.actors import SYSTEM
from scandepot.app import attach
from scandepot.archive import thumbnails
from scandepot.catalog.archive import Scan, Session
from scandepot.catalog.notify import Channel
from scandepot.catalog.pipelines import Job
from scandepot.cli.common import followed
from scandepot.context import Context
from scandepot.dicom.synthetic import Series, Study, mr_instance
from scandepot.notify import dispatch, webhooks
from scandepot.notify.webhooks import WebhookCreate
from scandepot.pipelines import config, executors, queue
from scandepot.pipelines.config import ConfigUpdate
from tests.notify.world import emails, journal_kinds, notices, recipient
from tests.retrieve.archived import archive
from tests.retrieve.test_metadata import kept_files

REDIS = "redis://127.0.0.1:6379/0"

# What each kind runs besides the subscribers (Following), in start order.
RUNS = {
    "serve": ["Following", "Builder", "Receiver", "Keeper", "SftpServer", "Sender"],
    "serve --no-dicom": ["Following", "Keeper", "SftpServer", "Sender"],
    "dicom": ["Following", "Builder", "Receiver", "Sender"],
    "worker": ["Following", "Sweeper", "Sender", "Keeper"],
    "sftp": ["Following", "SftpServer"],
    "web": ["Following"],
}
START: dict[str, Callable[[Context, processes.Parts], object]] = {
    "serve": processes.serve,
    "serve --no-dicom": lambda ctx, parts: processes.serve(ctx, parts, with_dicom=False),
    "dicom": processes.dicom,
    "worker": processes.worker,
    "sftp": processes.sftp,
    "web": processes.web,
}


@contextmanager
def installed(kind: str, ctx: Context) -> Iterator[Context]:
    """``ctx`` set up as a process of ``kind`` sets up its own; yields the context events
    are published on (a job's process has its own)."""
    if kind in RUNS:
        parts = processes.Parts()
        try:
            START[kind](ctx, parts)
            assert parts.running == RUNS[kind]
            yield ctx
        finally:
            parts.stop()
    elif kind == "app":  # create_app's, as a web server without the serve command has it
        attach(FastAPI(), ctx)
        yield ctx
    elif kind == "command":  # `scandepot prearchive archive`
        with followed(ctx):
            yield ctx
    else:  # a process of serve's local pool, as it starts
        # Its parent is watched: this test process's parent stands for the server.
        executors._child_init(ctx.settings, {}, os.getppid(), processes.follow_in_job)
        assert executors._child is not None
        child = executors._child[0]
        try:
            yield child
        finally:
            child.close()


@pytest.fixture
def celery_settings(ctx: Context) -> Iterator[Context]:
    """The site as it is scaled out: the Celery executor, here on a queue of its own;
    ports chosen by the system."""
    try:
        redis.Redis.from_url(REDIS, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis at {REDIS} is needed and cannot be reached: {exc}")
    name = f"scandepot-test-{uuid.uuid4().hex[:8]}"
    ctx.settings = ctx.settings.model_copy(
        update={
            "pipeline_executor": "celery",
            "celery_broker_url": REDIS,
            "celery_queue": name,
            "dicom_port": 0,
            "sftp_port": 0,
            "notify_poll_s": 0.5,
        }
    )
    yield ctx
    redis.Redis.from_url(REDIS).delete(name)


KINDS = [*RUNS, "app", "command", "job"]


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize("kind", KINDS)
def test_an_archive_has_the_same_effects_in_every_kind_of_process(
    kind: str, celery_settings: Context, make_project: Callable[..., str]
) -> None:
    ctx = celery_settings
    project = make_project("private", "SCALE", session_complete_after_min=0)
    for name in ("dcm2niix", "datalad"):
        update = ConfigUpdate(enabled=True, auto_launch=True)
        config.configure(ctx, SYSTEM, project, name, update)
    hook = WebhookCreate(url="https://hooks.example.org/in", secret="s" * 20)
    webhooks.add(ctx, SYSTEM, project, hook)
    recipient(ctx, project, "lab@example.org", "archived")
    study, series = Study(PatientID="P1"), Series(SeriesNumber=1)

    with installed(kind, ctx) as where:
        archive(where, project, [mr_instance(study, series, n, rows=8, columns=8) for n in (1, 2)])
        with ctx.db.read() as db:
            session = db.scalars(select(Session)).one()
            queued = sorted(db.scalars(select(Job.pipeline).where(Job.session_id == session.id)))
            scan = db.scalars(select(Scan.label).where(Scan.session_id == session.id)).one()
        source = thumbnails.find_source(ctx, SYSTEM, project, session.label, scan)
        # Drawn and made on threads of their own, after the archive's commit.
        picture = thumbnails.stored_path(ctx, source)
        assert eventually(lambda: picture.is_file() and len(kept_files(ctx)) == 1)

    assert queued == ["datalad", "dcm2niix"]
    assert queue.undispatched(ctx, older_than_s=3600) == []  # sent to the broker
    assert redis.Redis.from_url(REDIS).llen(ctx.settings.celery_queue) == 2

    assert "SessionArchived" in journal_kinds(ctx)
    dispatch.run(ctx, now=dt.datetime.now(dt.UTC))  # a sender's pass, in any process
    targets = {(m.channel, m.target) for m in emails(ctx)}
    assert (Channel.WEBHOOK.value, "https://hooks.example.org/in") in targets
    assert ("lab@example.org", "archived", "SessionArchived") in notices(ctx)


def eventually(done: Callable[[], bool], timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
