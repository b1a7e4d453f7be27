"""Journal events into notices (per email recipient) and webhook deliveries."""

from __future__ import annotations

import datetime as dt

from scandepot.context import Context


def run(ctx: Context, *, now: dt.datetime) -> int:
    """Dispatch the journal's events not dispatched yet; returns how many."""
    del ctx, now
    return 0
