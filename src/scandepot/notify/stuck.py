"""What is stuck: staged sessions not archived in time, a receiver that does not answer."""

from __future__ import annotations

import datetime as dt

from scandepot.context import Context


def run(ctx: Context, *, now: dt.datetime, echo: bool = False) -> int:
    """Record each new stuck case in the journal, once; returns how many were found.
    ``echo``: also C-ECHO this process's own DICOM receiver."""
    del ctx, now, echo
    return 0
