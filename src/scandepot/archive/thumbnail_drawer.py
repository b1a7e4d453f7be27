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
import threading

from scandepot.access.actors import SYSTEM
from scandepot.archive import thumbnails
from scandepot.context import Context
from scandepot.errors import ScandepotError
from scandepot.events import SessionArchived

log = logging.getLogger("scandepot.archive")


class Drawer:
    """Subscribed to "session archived"; :meth:`wait` lets a caller (a test, a shutdown)
    wait for the pictures under way."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._lock = threading.Lock()
        self._running: set[threading.Thread] = set()

    def on_archived(self, event: SessionArchived) -> None:
        if not event.scans:
            return
        thread = threading.Thread(target=self._draw, args=(event,), name="thumbnails", daemon=True)
        with self._lock:
            self._running.add(thread)
        thread.start()

    def wait(self, timeout: float = 60.0) -> None:
        with self._lock:
            running = list(self._running)
        for thread in running:
            thread.join(timeout)

    def _draw(self, event: SessionArchived) -> None:
        try:
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
        finally:
            with self._lock:
                self._running.discard(threading.current_thread())


def install(ctx: Context) -> Drawer:
    drawer = Drawer(ctx)
    ctx.events.subscribe(SessionArchived, drawer.on_archived)
    return drawer
