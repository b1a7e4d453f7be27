"""What a researcher sees over SFTP: the projects they may read, read-only
(ingest/drop_browse.py says what is there). Every change is refused."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import NoReturn

import asyncssh

from scandepot.access.actors import Actor
from scandepot.context import Context
from scandepot.ingest import drop_browse, drop_paths
from scandepot.ingest.drop_browse import Entry, Node
from scandepot.sftp.errors import call, now, refused
from scandepot.sftp.refusals import NoChanges

FOLDER_MODE = 0o40555
FILE_MODE = 0o100444


def _attrs(entry: Entry) -> asyncssh.SFTPAttrs:
    if entry.is_dir:
        return asyncssh.SFTPAttrs(type=asyncssh.FILEXFER_TYPE_DIRECTORY, permissions=FOLDER_MODE)
    mtime = int(entry.mtime)
    return asyncssh.SFTPAttrs(
        type=asyncssh.FILEXFER_TYPE_REGULAR,
        size=entry.size,
        permissions=FILE_MODE,
        atime=mtime,
        mtime=mtime,
    )


def _node_attrs(node: Node) -> asyncssh.SFTPAttrs:
    return _attrs(drop_browse.entry_of(node))


class Download:
    def __init__(self, fd: int) -> None:
        self.fd = fd


class BrowseServer(NoChanges):
    def __init__(self, chan: asyncssh.SSHServerChannel[bytes], ctx: Context, actor: Actor):
        super().__init__(chan)
        self.ctx, self.actor = ctx, actor

    def _parts(self, path: bytes) -> tuple[str, ...]:
        return now(drop_paths.parts, path)

    def realpath(self, path: bytes) -> bytes:
        return now(drop_paths.real, path).encode()

    async def stat(self, path: bytes) -> asyncssh.SFTPAttrs:
        node = await call(drop_browse.resolve, self.ctx, self.actor, self._parts(path))
        return _node_attrs(node)

    lstat = stat

    async def scandir(self, path: bytes) -> AsyncIterator[asyncssh.SFTPName]:
        entries = await call(drop_browse.listing, self.ctx, self.actor, self._parts(path))
        here = _attrs(Entry(".", True, 0, 0))
        yield asyncssh.SFTPName(b".", attrs=here)
        yield asyncssh.SFTPName(b"..", attrs=here)
        for entry in entries:
            yield asyncssh.SFTPName(entry.name.encode(), attrs=_attrs(entry))

    async def open(self, path: bytes, pflags: int, attrs: asyncssh.SFTPAttrs) -> Download:
        writing = asyncssh.FXF_WRITE | asyncssh.FXF_APPEND | asyncssh.FXF_CREAT
        if pflags & writing or not pflags & asyncssh.FXF_READ:
            raise refused("Writing")
        fd = await call(drop_browse.open_file, self.ctx, self.actor, self._parts(path))
        return Download(fd)

    async def read(self, file_obj: object, offset: int, size: int) -> bytes:
        assert isinstance(file_obj, Download)
        return await asyncio.to_thread(drop_browse.read_at, file_obj.fd, size, offset)

    def fstat(self, file_obj: object) -> asyncssh.SFTPAttrs:
        assert isinstance(file_obj, Download)
        size, mtime = drop_browse.file_size(file_obj.fd)
        return _attrs(Entry("", False, size, mtime))

    def close(self, file_obj: object) -> None:
        assert isinstance(file_obj, Download)
        drop_browse.close_file(file_obj.fd)

    def exit(self) -> None:
        return None

    # Read-only: everything else is refused.
    def write(self, file_obj: object, offset: int, data: bytes) -> NoReturn:
        raise refused("Writing")

    def mkdir(self, path: bytes, attrs: asyncssh.SFTPAttrs) -> NoReturn:
        raise refused("Making folders")

    def fsync(self, file_obj: object) -> None:
        return None

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
