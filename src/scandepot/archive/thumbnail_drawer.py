"""Scan pictures drawn when a scan is archived, not when a page first shows it.

A page view then reads the kept picture (:func:`thumbnails.picture` draws only what is
missing: a scan archived before this ran, or a picture deleted with the thumbnails
folder). The drawing runs on a thread of its own per archive, after the commit, so that
archiving does not wait for it; at most :data:`thumbnails.DRAWING_AT_ONCE` pictures are
drawn at a time, page views included. A picture is a cache: one not drawn because the
process stopped is drawn on its first view.
"""

from __future__ import annotations

import logging

from scandepot.access.actors import SYSTEM
from scandepot.archive import thumbnails
from scandepot.context import Context
from scandepot.errors import ScandepotError
from scandepot.events import OnItsOwnThread, SessionArchived

log = logging.getLogger("scandepot.archive")


class Drawer(OnItsOwnThread):
    """Subscribed to "session archived"; :meth:`wait` lets a caller (a test, a shutdown)
    wait for the pictures under way."""

    name = "thumbnails"

    def __init__(self, ctx: Context) -> None:
        super().__init__()
        self._ctx = ctx

    def on_archived(self, event: SessionArchived) -> None:
        if event.scans:
            self.start(event)

    def work(self, event: SessionArchived) -> None:
        for scan in event.scans:
            try:
                source = thumbnails.find_source(
                    self._ctx, SYSTEM, event.project, event.session, scan
                )
                thumbnails.picture(self._ctx, source)
            except ScandepotError as exc:  # no picture to draw, or over the limits
                log.info(
                    "scan %s/%s/%s: no picture: %s",
                    event.project,
                    event.session,
                    scan,
                    exc.message,
                )
            except Exception:  # a cache: the first view draws it, or says why
                log.exception("picture of scan %s/%s/%s", event.project, event.session, scan)


def install(ctx: Context) -> Drawer:
    drawer = Drawer(ctx)
    ctx.events.subscribe(SessionArchived, drawer.on_archived)
    return drawer
