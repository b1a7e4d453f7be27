"""What a drop account may do over SFTP: make folders and write files in its project's
drop folder, nothing else. Listing, reading, renaming, deleting, links and attribute
changes are refused (SSH_FX_PERMISSION_DENIED). A file's close is answered once it has
its name; the settler (ingest/drop_settler.py) fsyncs and catalogues it, and only then
does scandepot see it. fsync@openssh.com is answered after an fsync."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import NoReturn

import asyncssh

from scandepot.context import Context
from scandepot.errors import ScandepotError
from scandepot.ingest import drop_paths, drops
from scandepot.ingest.drop_settler import Settler
from scandepot.ingest.sftp_signin import DropPrincipal
from scandepot.sftp import interrupted
from scandepot.sftp.errors import call, now, refused, to_sftp
from scandepot.sftp.feeder import Feeder
from scandepot.sftp.refusals import NoChanges

log = logging.getLogger("scandepot.sftp")

# How long a session writes on what it read of its account (enabled, its project's
# folder, quota and rule) before reading it again: a client sends many files in a row.
GRANT_KEPT_S = 1.0

FOLDER = asyncssh.SFTPAttrs(type=asyncssh.FILEXFER_TYPE_DIRECTORY, permissions=0o40333)


class DropServer(NoChanges):
    def __init__(
        self,
        chan: asyncssh.SSHServerChannel[bytes],
        ctx: Context,
        who: DropPrincipal,
        settler: Settler,
    ) -> None:
        super().__init__(chan)
        self.ctx, self.who, self.settler = ctx, who, settler
        self._granted: drops.Grant | None = None

    def _parts(self, path: bytes) -> tuple[str, ...]:
        return now(drop_paths.parts, path)

    def realpath(self, path: bytes) -> bytes:
        return now(drop_paths.real, path).encode()

    async def stat(self, path: bytes) -> asyncssh.SFTPAttrs:
        # Folders answer (a client looks before it makes one); files never do.
        if await call(drops.is_folder, self.ctx, self.who, self._parts(path)):
            return FOLDER
        raise asyncssh.SFTPNoSuchFile("No such folder.")

    lstat = stat

    async def mkdir(self, path: bytes, attrs: asyncssh.SFTPAttrs) -> None:
        await call(drops.make_folder, self.ctx, self.who, self._parts(path))

    async def open(self, path: bytes, pflags: int, attrs: asyncssh.SFTPAttrs) -> Feeder:
        if pflags & asyncssh.FXF_READ or pflags & asyncssh.FXF_APPEND:
            raise refused("Reading or appending")
        if not pflags & asyncssh.FXF_WRITE:
            raise refused("Opening without writing")
        parts = self._parts(path)
        granted = self._granted
        if granted is None or time.monotonic() - granted.read_at > GRANT_KEPT_S:
            granted = self._granted = await call(drops.grant, self.ctx, self.who)
        if granted.quota is None:  # nothing to read from the catalog: no wait
            return Feeder(now(drops.begin, self.ctx, self.who, parts, granted))
        return Feeder(await call(drops.begin, self.ctx, self.who, parts, granted))

    async def write(self, file_obj: object, offset: int, data: bytes) -> int:
        assert isinstance(file_obj, Feeder)
        try:
            await file_obj.write(offset, data)
        except ScandepotError as exc:
            # Refused (over the quota, out of order, a write failed): the partial file
            # goes once its thread has stopped writing.
            with contextlib.suppress(ScandepotError, OSError):
                await file_obj.drain()
            file_obj.upload.abort()
            raise to_sftp(exc) from None
        return len(data)

    def fstat(self, file_obj: object) -> asyncssh.SFTPAttrs:
        assert isinstance(file_obj, Feeder)
        return asyncssh.SFTPAttrs(
            type=asyncssh.FILEXFER_TYPE_REGULAR, size=file_obj.upload.size, permissions=0o100200
        )

    async def fsync(self, file_obj: object) -> None:
        assert isinstance(file_obj, Feeder)
        try:
            await file_obj.flush()
            await call(file_obj.upload.sync)
        except ScandepotError as exc:
            raise to_sftp(exc) from None

    async def close(self, file_obj: object) -> None:
        assert isinstance(file_obj, Feeder)
        upload = file_obj.upload
        try:
            await file_obj.drain()
        except ScandepotError as exc:
            upload.abort()
            raise to_sftp(exc) from None
        except BaseException:
            upload.abort()
            raise
        if upload.ended:
            return  # refused on a write already (over the quota): nothing to make visible
        if interrupted.client_gone(self.channel):
            upload.abort()
            log.info("SFTP upload of %s by %s interrupted", upload.path, self.who.username)
            return
        self.settler.submit(now(upload.close))  # a link and an attribute: no wait

    def exit(self) -> None:
        return None

    # Everything else is refused.
    def read(self, file_obj: object, offset: int, size: int) -> NoReturn:
        raise refused("Reading")

    def scandir(self, path: bytes) -> AsyncIterator[asyncssh.SFTPName]:
        raise refused("Listing")

    def statvfs(self, path: bytes) -> NoReturn:
        raise asyncssh.SFTPOpUnsupported("statvfs is not offered.")

    def fstatvfs(self, file_obj: object) -> NoReturn:
        raise asyncssh.SFTPOpUnsupported("statvfs is not offered.")

    def lock(self, file_obj: object, offset: int, length: int, flags: int) -> NoReturn:
        raise asyncssh.SFTPOpUnsupported("Locks are not offered.")

    def unlock(self, file_obj: object, offset: int, length: int) -> NoReturn:
        raise asyncssh.SFTPOpUnsupported("Locks are not offered.")

    def open56(
        self, path: bytes, desired_access: int, flags: int, attrs: asyncssh.SFTPAttrs
    ) -> NoReturn:
        raise asyncssh.SFTPOpUnsupported("SFTP version 3 only.")
