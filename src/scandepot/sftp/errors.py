"""Domain errors as SFTP status codes (draft-ietf-secsh-filexfer-02 §7): the client sees
the code and the message; nothing else of the server."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import asyncssh

from scandepot.errors import (
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    OutOfSpace,
    ScandepotError,
    Unauthorized,
)
from scandepot.ingest.drop_quota import QuotaExceeded
from scandepot.ingest.drops import NameTaken

log = logging.getLogger("scandepot.sftp")
P = ParamSpec("P")
T = TypeVar("T")


def refused(what: str) -> asyncssh.SFTPPermissionDenied:
    return asyncssh.SFTPPermissionDenied(f"{what} is not allowed here.")


def to_sftp(exc: ScandepotError) -> asyncssh.SFTPError:
    if isinstance(exc, NameTaken):
        # Said as any refused write: a drop account learns nothing of what is there.
        return refused("Writing")
    if isinstance(exc, QuotaExceeded):
        return asyncssh.SFTPQuotaExceeded(exc.message)
    if isinstance(exc, OutOfSpace):
        return asyncssh.SFTPNoSpaceOnFilesystem(exc.message)
    if isinstance(exc, NotFound):
        return asyncssh.SFTPNoSuchFile(exc.message)
    if isinstance(exc, Unauthorized | Forbidden):
        return asyncssh.SFTPPermissionDenied(exc.message)
    if isinstance(exc, Invalid):
        return asyncssh.SFTPInvalidFilename(exc.message)
    if isinstance(exc, Conflict):
        return asyncssh.SFTPFileAlreadyExists(exc.message)
    return asyncssh.SFTPFailure(exc.message)


async def call(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run a service function off the event loop, its domain errors turned to statuses."""
    try:
        return await asyncio.to_thread(fn, *args, **kwargs)
    except ScandepotError as exc:
        raise to_sftp(exc) from None


def now(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run a quick service function in place, its domain errors turned to statuses."""
    try:
        return fn(*args, **kwargs)
    except ScandepotError as exc:
        raise to_sftp(exc) from None
