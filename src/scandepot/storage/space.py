"""A full disk, or a full quota, is the server's condition, not a fault in the request:
storage turns it into :class:`~scandepot.errors.OutOfSpace` (HTTP 507) where it meets it,
after its own clean-up has removed the temporary file."""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager

from scandepot.errors import OutOfSpace

FULL = frozenset({errno.ENOSPC, errno.EDQUOT})


def is_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in FULL


@contextmanager
def guarded() -> Iterator[None]:
    """Raise :class:`OutOfSpace` for an ``OSError`` that says the disk or quota is full;
    any other error passes unchanged. Usable as a decorator."""
    try:
        yield
    except OSError as exc:
        if exc.errno in FULL:
            raise OutOfSpace() from exc
        raise
