"""Series metadata made when a session is archived, not on the first viewer's request.

Subscribed to "session archived"; the making runs on a thread of its own per archive,
after the commit, so archiving does not wait for it. The kept metadata is a cache
(:mod:`.metadata`): one not made because the process stopped is made on its first request.
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from scandepot.access.actors import SYSTEM
from scandepot.catalog.archive import Scan, Session
from scandepot.catalog.prearchive import Instance
from scandepot.context import Context
from scandepot.errors import ScandepotError
from scandepot.events import OnItsOwnThread, SessionArchived
from scandepot.query.scope import Scope
from scandepot.retrieve import metadata
from scandepot.retrieve.instances import locate

log = logging.getLogger("scandepot.retrieve")


class Warmer(OnItsOwnThread):
    """:meth:`wait` lets a caller (a test, a shutdown) wait for the making under way."""

    name = "metadata"

    def __init__(self, ctx: Context) -> None:
        super().__init__()
        self._ctx = ctx

    def on_archived(self, event: SessionArchived) -> None:
        if event.scans:
            self.start(event)

    def _series(self, event: SessionArchived) -> tuple[Scope, list[tuple[str, str]]]:
        with self._ctx.db.read() as db:
            session = db.scalar(select(Session).where(Session.stable_id == event.session_id))
            if session is None:
                return Scope(SYSTEM), []
            rows = db.execute(
                select(Instance.StudyInstanceUID, Instance.SeriesInstanceUID)
                .join(Scan, Scan.id == Instance.scan_id)
                .where(Scan.session_id == session.id, Scan.label.in_(event.scans))
                .where(Instance.file_id.is_not(None))
                .distinct()
            ).all()
            return Scope(SYSTEM, session.project_id, event.project), [(r[0], r[1]) for r in rows]

    def work(self, event: SessionArchived) -> None:
        try:
            scope, series = self._series(event)
            for study, uid in series:
                metadata.warm(self._ctx, locate(self._ctx, scope, study, uid))
        except ScandepotError as exc:  # the series went meanwhile: nothing to keep
            log.info("metadata of session %s not kept: %s", event.session_id, exc.message)
        except Exception:  # a cache: the first request makes it, or says why
            log.exception("metadata of session %s", event.session_id)


def install(ctx: Context) -> Warmer:
    warmer = Warmer(ctx)
    ctx.events.subscribe(SessionArchived, warmer.on_archived)
    return warmer
