"""How ``scandepot serve`` stops: SIGTERM or SIGINT runs its shutdown code, exit 0.

While uvicorn serves, it takes both signals itself, stops, and then raises the signal
again once its own handlers are gone, to give the process the signal's usual ending. For
SIGTERM that ending is death by the signal (status 143) before any ``finally`` block
runs: the pipeline pool, the DICOM receiver and the catalog are left as they were. The
handler installed here receives that raised signal (and any signal that comes before
uvicorn starts) and turns it into ``SystemExit(0)``, so the server's ``finally`` runs.
Signals that come while it runs are logged and ignored: a second Ctrl-C must not cut the
shutdown half-way and leave processes behind.
"""

from __future__ import annotations

import logging
import signal
from types import FrameType

log = logging.getLogger("scandepot")

SIGNALS = (signal.SIGTERM, signal.SIGINT)


def exit_on_signals() -> None:
    """From now on the first SIGTERM or SIGINT ends the process through ``finally``."""
    stopping = False

    def handler(sig: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        if stopping:
            log.warning("%s received while stopping; still stopping", signal.Signals(sig).name)
            return
        stopping = True
        raise SystemExit(0)

    for sig in SIGNALS:
        signal.signal(sig, handler)
