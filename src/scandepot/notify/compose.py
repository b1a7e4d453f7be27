"""Notices that have waited long enough, into one email per recipient and topic.

An address's notices wait until none has come for ``notify_batch_s`` (the burst is over)
or the oldest has waited ``notify_batch_max_s``; then each of its topics becomes one
message listing every notice waiting under it (a 40-session import: one message with 40
sessions). The message is written to the outbox in the transaction that marks its
notices as sent into it, so a notice is in one message exactly.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import func, select
from sqlalchemy.orm import Session as DBSession

from scandepot.catalog.archive import Project
from scandepot.catalog.notify import Notice, Topic
from scandepot.context import Context
from scandepot.notify import outbox
from scandepot.notify.audience import STRENGTH
from scandepot.notify.links import Links
from scandepot.notify.render import render
from scandepot.notify.views import subject, view

log = logging.getLogger("scandepot.notify")

SITE_NAME = "scandepot"  # the subject's prefix, in brackets


def run(ctx: Context, *, now: dt.datetime) -> int:
    """Compose the emails that are due; returns how many were written to the outbox."""
    written = 0
    for address in due(ctx, now=now):
        try:
            written += _compose(ctx, address)
        except Exception:  # noqa: BLE001 - the others go on; these wait for the next pass
            log.exception("messages to %s could not be composed", address)
    return written


def due(ctx: Context, *, now: dt.datetime) -> list[str]:
    """The addresses whose waiting notices are due to go."""
    quiet = dt.timedelta(seconds=ctx.settings.notify_batch_s)
    longest = dt.timedelta(seconds=ctx.settings.notify_batch_max_s)
    with ctx.db.read() as db:
        rows = db.execute(
            select(Notice.address, func.min(Notice.created_at), func.max(Notice.created_at))
            .where(Notice.message_id.is_(None))
            .group_by(Notice.address)
            .order_by(func.min(Notice.id))
        ).all()
    return [
        address
        for address, oldest, newest in rows
        if now - newest >= quiet or now - oldest >= longest
    ]


def _compose(ctx: Context, address: str) -> int:
    with ctx.db.write() as db:
        query = (
            select(Notice)
            .where(Notice.address == address, Notice.message_id.is_(None))
            .order_by(Notice.id)
        )
        if not ctx.db.is_sqlite:  # another sender composing now: its notices are its own
            query = query.with_for_update(skip_locked=True)
        waiting = list(db.scalars(query))
        written = 0
        for topic in STRENGTH:
            mine = [n for n in waiting if n.topic == topic.value]
            if mine:
                _message(db, ctx, address, topic, mine)
                written += 1
        return written


def _message(
    db: DBSession, ctx: Context, address: str, topic: Topic, notices: list[Notice]
) -> None:
    links = Links(ctx.settings.public_url)
    items = [view(db, links, n) for n in notices]
    title = f"[{SITE_NAME}] {subject(topic.value, items)}"
    text, html = render(topic.value, subject=title, items=items, site=links.base)
    labels = {n.project for n in notices}
    project_id = None
    if len(labels) == 1 and (label := labels.pop()) is not None:
        project_id = db.scalar(select(Project.id).where(Project.label == label))
    row = outbox.add_email(
        db,
        ctx,
        to=address,
        subject=title,
        text=text,
        html=html,
        topic=topic,
        project_id=project_id,
    )
    for notice in notices:
        notice.message_id = row.id
