"""What neither kind of SFTP session may do: delete, rename, link, read links or change
attributes. Drop accounts only add; researchers only read."""

from __future__ import annotations

from typing import NoReturn

import asyncssh

from scandepot.sftp.errors import refused


class NoChanges(asyncssh.SFTPServer):
    def remove(self, path: bytes) -> NoReturn:
        raise refused("Deleting")

    def rmdir(self, path: bytes) -> NoReturn:
        raise refused("Deleting")

    def rename(self, oldpath: bytes, newpath: bytes) -> NoReturn:
        raise refused("Renaming")

    posix_rename = rename

    def symlink(self, oldpath: bytes, newpath: bytes) -> NoReturn:
        raise refused("Making links")

    def link(self, oldpath: bytes, newpath: bytes) -> NoReturn:
        raise refused("Making links")

    def readlink(self, path: bytes) -> NoReturn:
        raise refused("Reading links")

    def setstat(self, path: bytes, attrs: asyncssh.SFTPAttrs) -> NoReturn:
        raise refused("Changing attributes")

    def lsetstat(self, path: bytes, attrs: asyncssh.SFTPAttrs) -> NoReturn:
        raise refused("Changing attributes")

    def fsetstat(self, file_obj: object, attrs: asyncssh.SFTPAttrs) -> NoReturn:
        raise refused("Changing attributes")
