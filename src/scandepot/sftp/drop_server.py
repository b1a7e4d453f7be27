"""What a drop account may do over SFTP: make folders and write files in its project's
drop folder, nothing else. Listing, reading, renaming, deleting, links and attribute
changes are refused (SSH_FX_PERMISSION_DENIED); a file becomes visible on its close."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import NoReturn

import asyncssh

from scandepot.catalog.drops import MatchRule
from scandepot.context import Context
from scandepot.errors import ScandepotError
from scandepot.ingest import drop_matching, drop_paths, drops
from scandepot.ingest.sftp_signin import DropPrincipal
from scandepot.sftp import interrupted
from scandepot.sftp.errors import call, now, refused, to_sftp
from scandepot.sftp.feeder import Feeder
from scandepot.sftp.refusals import NoChanges

log = logging.getLogger("scandepot.sftp")

FOLDER = asyncssh.SFTPAttrs(type=asyncssh.FILEXFER_TYPE_DIRECTORY, permissions=0o40333)


class DropServer(NoChanges):
    def __init__(self, chan: asyncssh.SSHServerChannel[bytes], ctx: Context, who: DropPrincipal):
        super().__init__(chan)
        self.ctx, self.who = ctx, who

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
        return Feeder(await call(drops.begin, self.ctx, self.who, self._parts(path)))

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

    def fsync(self, file_obj: object) -> None:
        return None  # every file is fsynced as it closes

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
        drop_id = await call(upload.finish)
        if upload.rule == MatchRule.NONE.value:
            return
        try:
            await call(drop_matching.on_arrival, self.ctx, drop_id)
        except (asyncssh.SFTPError, ScandepotError, OSError) as exc:
            # The file is safe in the drop folder; it waits to be matched by hand.
            log.warning("drop %s of %s not matched: %s", drop_id, self.who.project, exc)

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
