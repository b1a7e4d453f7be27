"""Sessions archived and staged the way uploads make them, and the catalog rows people
set for their notifications, for the tests of what is told to whom."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from pydicom.dataset import Dataset
from sqlalchemy import select, update

from scandepot.catalog.access import User
from scandepot.catalog.archive import Project
from scandepot.catalog.journal import EventRecord
from scandepot.catalog.notify import Choice, Notice, OutboxMessage, Recipient
from scandepot.context import Context
from scandepot.dicom.synthetic import Series, Study, mr_instance, to_bytes
from scandepot.ingest.receive import Source, receive
from scandepot.prearchive import worker


def upload(
    ctx: Context,
    project: str | None,
    subject: str,
    session: str,
    *,
    by: str = "member",
    series: Iterable[tuple[int, str]] = ((1, "T1w"), (2, "rest BOLD")),
    per_series: int = 2,
    hold: bool = False,
) -> list[Dataset]:
    """Receive a small synthetic study as ``by``'s upload to ``project`` (not built);
    returns its instances."""
    study = Study()
    sent = []
    for number, description in series:
        one = Series(number, description)
        for k in range(1, per_series + 1):
            ds = mr_instance(study, one, k, rows=8, columns=8)
            send(ctx, ds, project, subject, session, by=by, hold=hold)
            sent.append(ds)
    return sent


def send(
    ctx: Context,
    ds: Dataset,
    project: str | None,
    subject: str,
    session: str,
    *,
    by: str = "member",
    hold: bool = False,
) -> None:
    """Receive one instance as ``by``'s upload."""
    source = Source("upload", project=project, subject=subject, session=session, by=by, hold=hold)
    with ctx.store.stage() as staged:
        staged.write(to_bytes(ds))
        receive(ctx, staged, source)


def build(ctx: Context) -> None:
    """Build (and, where the project says so, archive) every staged session now."""
    ctx.settings.prearchive_quiet_s = 0
    worker.run_once(ctx)


def project_id(ctx: Context, label: str) -> int:
    with ctx.db.read() as db:
        found = db.scalar(select(Project.id).where(Project.label == label))
    assert found is not None
    return found


def choose(ctx: Context, login: str, topic: str, enabled: bool, project: str | None = None) -> None:
    """``login``'s own choice for ``topic``, in ``project`` or (None) in every project."""
    pid = project_id(ctx, project) if project else None
    with ctx.db.write() as db:
        user = db.scalar(select(User).where(User.login == login))
        assert user is not None
        db.add(Choice(user_id=user.id, project_id=pid, topic=topic, enabled=enabled))


def recipient(ctx: Context, project: str, address: str, *topics: str) -> None:
    with ctx.db.write() as db:
        db.add(Recipient(project_id=project_id(ctx, project), address=address, topics=list(topics)))


def disable(ctx: Context, login: str) -> None:
    with ctx.db.write() as db:
        db.execute(update(User).where(User.login == login).values(enabled=False))


def notices(ctx: Context) -> list[tuple[str, str, str]]:
    """(address, topic, event kind) of every notice, in order."""
    with ctx.db.read() as db:
        rows = db.execute(select(Notice.address, Notice.topic, Notice.kind).order_by(Notice.id))
        return [tuple(r) for r in rows]  # type: ignore[misc]


def journal_kinds(ctx: Context) -> list[str]:
    with ctx.db.read() as db:
        return list(db.scalars(select(EventRecord.kind).order_by(EventRecord.id)))


def emails(ctx: Context) -> list[OutboxMessage]:
    with ctx.db.read() as db:
        return list(db.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def newest_notice(ctx: Context) -> dt.datetime:
    with ctx.db.read() as db:
        found = db.scalar(select(Notice.created_at).order_by(Notice.created_at.desc()).limit(1))
    assert found is not None
    return found
