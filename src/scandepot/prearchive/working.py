"""Which staged sessions a live process is building, so that another process's recovery
leaves them alone.

A builder claims a quiet session by setting it ``BUILDING``, then builds and (most often)
archives it over several transactions. A builder that dies leaves it ``BUILDING``, and a
builder's start puts such sessions back to ``RECEIVING`` to be built again. With several
builders on one catalog (``scandepot dicom`` on several hosts), a starting builder must
not take back a session another one is building now: on PostgreSQL each builder holds a
session-level advisory lock on the staged session from before its claim to the end of its
archive, and recovery touches only sessions whose lock it can take. The lock goes with
the builder's connection, so a builder killed outright leaves nothing held.

SQLite serves one machine, whose processes share the catalog file: there the lock is not
taken and recovery takes back everything, as a single server's start always did.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import func, select

from scandepot.context import Context

# The first key of the two-key advisory lock; the second is the staged session's ID.
# (The catalog's migration lock is a one-key lock: the two never meet.)
LOCK_SPACE = 0x5CA4_0001


@contextmanager
def on(ctx: Context, staged_id: int) -> Iterator[bool]:
    """Hold staged session ``staged_id`` for the block if no other process holds it;
    yields whether it is held here (always True on SQLite)."""
    if ctx.db.is_sqlite:
        yield True
        return
    with ctx.db.engine.connect() as connection:
        taken = connection.scalar(select(func.pg_try_advisory_lock(LOCK_SPACE, staged_id)))
        connection.commit()  # a session-level lock: it outlives the transaction
        try:
            yield bool(taken)
        finally:
            if taken:
                connection.scalar(select(func.pg_advisory_unlock(LOCK_SPACE, staged_id)))
                connection.commit()
