"""What each kind of process runs, in one place.

One ``scandepot serve`` runs every part; at scale the parts run in processes of their own
over one catalog and one data folder (docs/operations.md, "Scaling out"). Whatever kind a
process is, an event published in it has the same effects: :func:`follow` installs the
subscribers every process with a catalog needs, and each kind adds the parts it runs.

============  =====================================================================
process       runs, besides what :func:`follow` installs
============  =====================================================================
serve         HTTP, the DICOM receiver and the prearchive builder (not with
              ``--no-dicom``), the job pool (local executor), retention,
              notifications (and the receiver's self-check), SFTP when enabled
web           HTTP (``create_app``: a web server without the ``serve`` command)
dicom         the DICOM receiver, the prearchive builder, notifications with the
              receiver's self-check
worker        Celery jobs (every job kind: :func:`jobs`), the queue's sweep,
              notifications, retention
sftp          the SFTP server
a command     one command (``scandepot prearchive archive``, ``scandepot pipeline``)
============  =====================================================================

What must happen once per deployment is safe in any number of processes: a job is
claimed before it runs, a staged session before it is built, a notification row before
it is sent, and a retention run takes a lease.

A capability that follows events is added to :func:`follow`; a job kind to :func:`jobs`;
a background part to the kinds that run it, here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from scandepot.archive import thumbnail_drawer
from scandepot.context import Context
from scandepot.pipelines import wiring
from scandepot.pipelines.executors import Executor
from scandepot.pipelines.jobrun import Pipeline
from scandepot.retrieve import warming

if TYPE_CHECKING:
    from scandepot.dimse import Receiver
    from scandepot.sftp.server import SftpServer

log = logging.getLogger("scandepot")
T = TypeVar("T")


def jobs() -> dict[str, Pipeline]:
    """Every kind of job a process that runs jobs takes: the pipelines, those of the
    services above them (datalad), and their site tasks (transfers, pushes, datasets'
    validations). Imported when called: only processes that run jobs pay for them."""
    from scandepot.datalad import task as datalad_task
    from scandepot.datasets import validation
    from scandepot.pipelines import builtin
    from scandepot.push import task as push_task
    from scandepot.transfers import task as transfer_task

    return {
        **builtin.pipelines(),
        "datalad": datalad_task.run,
        "transfer": transfer_task.run,
        "push": push_task.run,
        validation.TASK: validation.run,
    }


@dataclass
class Following:
    """What :func:`follow` installed: the executor that takes queued jobs (None when
    another process does), and the subscribers that work on threads of their own after
    an archive, which :meth:`wait` waits for."""

    executor: Executor | None
    after_archive: tuple[thumbnail_drawer.Drawer, warming.Warmer]

    def wait(self, timeout: float = 60.0) -> None:
        for work in self.after_archive:
            work.wait(timeout)

    def stop(self) -> None:
        if self.executor is not None:
            self.executor.stop()  # ends the pool's processes


def follow(ctx: Context, *, pipelines: dict[str, Pipeline] | None = None) -> Following:
    """Install what every process with a catalog needs on ``ctx``'s events:

    - "session archived" queues the project's auto-launched jobs (DataLad's among them),
    - and draws its scans' pictures and makes its series' DICOMweb metadata (caches);
    - a queued job is sent to the Celery broker when the settings say ``celery``; under
      ``local``, the process given ``pipelines`` runs jobs in its pool, whose processes
      follow events as this one does.

    Notifications and webhooks need nothing here: the events they hear are written to
    the event journal with the change, in any process, and a sender reads it."""
    executor = wiring.install(ctx, pipelines=pipelines, prepare=follow_in_job)
    following = Following(executor, (thumbnail_drawer.install(ctx), warming.install(ctx)))
    return following


def follow_in_job(ctx: Context) -> None:
    """What a process of the local pool installs on its context as it starts, so that an
    event a job publishes (a transfer's copy archived) has its usual effects."""
    follow(ctx)


@dataclass
class Parts:
    """What a process started, stopped in the reverse order by :meth:`stop`."""

    running: list[str] = field(default_factory=list)  # the parts' kinds, in start order
    _stops: list[Callable[[], None]] = field(default_factory=list)

    def add(self, part: T, stop: Callable[[], None]) -> T:
        self.running.append(type(part).__name__)
        self._stops.append(stop)
        return part

    def stop(self) -> None:
        while self._stops:
            stop = self._stops.pop()
            try:
                stop()
            except Exception:  # noqa: BLE001 - stop the others all the same
                log.exception("stopping %r failed", stop)


def web(ctx: Context, parts: Parts) -> Following:
    """An HTTP server's subscribers (its routes are ``create_app``'s)."""
    following = follow(ctx)
    return parts.add(following, following.stop)


def dicom(ctx: Context, parts: Parts) -> Receiver:
    """``scandepot dicom``: the receiver, the builder that archives what it staged, and
    notifications with the receiver's self-check (C-ECHO). Raises OSError when the port
    cannot be bound."""
    parts.add(follow(ctx), lambda: None)  # its threads are caches: not waited for
    receiver = _receive(ctx, parts)
    _notify(ctx, parts, echo=True)
    return receiver


def sftp(ctx: Context, parts: Parts) -> SftpServer:
    """``scandepot sftp``. Raises OSError when the port cannot be bound."""
    parts.add(follow(ctx), lambda: None)
    return _sftp(ctx, parts)


def worker(ctx: Context, parts: Parts) -> Any:
    """``scandepot worker``: the Celery application that runs every job kind (the caller
    starts its worker), the sweep that sends jobs no message was sent for, notifications
    and retention."""
    from scandepot.pipelines.celery_worker import Sweeper, worker_app

    if ctx.settings.pipeline_executor != "celery":
        log.warning(
            "SCANDEPOT_PIPELINE_EXECUTOR is not 'celery': jobs queued by this worker's "
            "jobs reach the queue only through the sweep"
        )
    parts.add(follow(ctx), lambda: None)
    app = worker_app(ctx, pipelines=jobs())
    sweeper = Sweeper(ctx, app)
    sweeper.start()
    parts.add(sweeper, sweeper.done.set)
    _notify(ctx, parts, echo=False)
    _retention(ctx, parts)
    return app


@dataclass
class Served:
    """What ``scandepot serve`` started besides HTTP."""

    receiver: Receiver | None
    sftp: SftpServer | None


def serve(ctx: Context, parts: Parts, *, with_dicom: bool = True) -> Served:
    """``scandepot serve``: every part in one process; jobs run in its local pool (or
    are sent to Celery workers). ``with_dicom=False`` (``--no-dicom``, a web server
    beside ``scandepot dicom`` processes): no receiver and no builder, theirs. Raises
    OSError when a port cannot be bound."""
    following = follow(ctx, pipelines=jobs())  # before anything can be archived
    parts.add(following, following.stop)
    receiver = _receive(ctx, parts) if with_dicom else None
    _retention(ctx, parts)
    server = _sftp(ctx, parts) if ctx.settings.sftp_enabled else None
    _notify(ctx, parts, echo=with_dicom)
    return Served(receiver, server)


def _receive(ctx: Context, parts: Parts) -> Receiver:
    from scandepot.dimse import Receiver

    _build(ctx, parts)  # its recovery first; and it stops after the receiver
    s = ctx.settings
    receiver = _bound("DICOM", s.dicom_host, s.dicom_port, Receiver(ctx).start)
    return parts.add(receiver, receiver.stop)


def _build(ctx: Context, parts: Parts) -> None:
    from scandepot.prearchive.worker import Builder

    builder = Builder(ctx).start()
    parts.add(builder, builder.stop)


def _sftp(ctx: Context, parts: Parts) -> SftpServer:
    from scandepot.sftp.server import SftpServer

    s = ctx.settings
    server = _bound("SFTP", s.sftp_host, s.sftp_port, SftpServer(ctx).start)
    return parts.add(server, server.stop)


def _bound(what: str, host: str, port: int, start: Callable[[], T]) -> T:
    try:
        return start()
    except OSError as exc:
        raise OSError(f"cannot listen for {what} on {host}:{port}: {exc}") from exc


def _notify(ctx: Context, parts: Parts, *, echo: bool) -> None:
    from scandepot.notify.sender import Sender

    sender = Sender(ctx, echo=echo).start()  # several share the work: rows are claimed
    parts.add(sender, sender.stop)


def _retention(ctx: Context, parts: Parts) -> None:
    from scandepot.retention.run import Keeper

    keeper = Keeper(ctx).start()  # several at once: a run takes the lease
    parts.add(keeper, keeper.stop)
