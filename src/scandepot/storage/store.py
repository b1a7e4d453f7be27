"""Durable, atomic file operations.

A file is written to a temporary name under ``tmp/`` in the data folder (the same file
system as the archive, so the final step is a rename), hashed while it is written,
fsynced, then linked or renamed to its final name and the folder fsynced. Only after that
does the caller record it in the catalog. A write that fails at any point removes its
temporary file; one killed outright leaves only a temporary file, which nothing serves and
:meth:`FileStore.clean` removes.

Filing an instance (:mod:`scandepot.ingest.receive`) takes the same steps in another
order: :meth:`StagedFile.link`, then :meth:`StagedFile.sync`, then :func:`fsync_dir`, then
the catalog commit. Linking the final name before the file's fsync puts the name in the
same journal commit as the data on ext4 and XFS, so the folder's fsync that follows finds
little left to write. The DICOM receiver starts the fsync earlier still
(:meth:`StagedFile.sync_in`, with the last byte), so that it runs while the instance is
filed, and waits for it before the folder's fsync. The guarantee is the same: nothing is
committed to the catalog, and nothing acknowledged, before the bytes and the name are
durable. The receiver also stages without hashing (``hashed=False``): the checksums are
computed later, see :mod:`scandepot.prearchive.digests`.

Temporary files live in one folder rather than beside their destination so that a
relabel or delete that renames a session's folder can never race with a half-written file
inside it.

A staged file's bytes reach the device through a :class:`Disk`: ``os.write`` and
``os.fsync``. A store can be handed another, one that answers as a full or failing device
does, to see what every way in makes of it.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import time
import uuid
import zlib
from collections.abc import Iterable
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from scandepot.errors import Conflict, OutOfSpace
from scandepot.storage import space

CHUNK = 1024 * 1024


class Disk:
    """The two calls through which a staged file's bytes and its fsync go."""

    def write(self, fd: int, data: memoryview) -> int:
        return os.write(fd, data)

    def fsync(self, fd: int) -> None:
        os.fsync(fd)


DISK = Disk()


@dataclass(frozen=True, slots=True)
class StoredDigest:
    size: int
    md5: str
    sha256: str
    # The CRC-32 a zip entry carries (APPNOTE 4.4.7): kept so that a zip download can
    # put it in the local header before the bytes and send them from the file.
    crc32: int


class Hasher:
    """MD5, SHA-256 and CRC-32 of bytes fed in order: every checksum in one pass."""

    __slots__ = ("_crc32", "_md5", "_sha256", "size")

    def __init__(self) -> None:
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._sha256 = hashlib.sha256()
        self._crc32 = 0
        self.size = 0

    def update(self, chunk: bytes | bytearray | memoryview) -> None:
        self._md5.update(chunk)
        self._sha256.update(chunk)
        self._crc32 = zlib.crc32(chunk, self._crc32)
        self.size += len(chunk)

    def digest(self) -> StoredDigest:
        return StoredDigest(self.size, self._md5.hexdigest(), self._sha256.hexdigest(), self._crc32)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_dirs(path: Path) -> None:
    """``mkdir -p`` that fsyncs each parent whose entries it changed."""
    missing: list[Path] = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    for folder in reversed(missing):
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        fsync_dir(folder.parent)


class StagedFile:
    """A file being written under a temporary name; see the module docstring."""

    def __init__(self, tmp_path: Path, *, hashed: bool = True, disk: Disk = DISK) -> None:
        self.tmp_path = tmp_path
        self._disk = disk
        # Unbuffered: callers write chunks of kilobytes, which go straight to the kernel.
        self._fd: int | None = os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        # Hashed while written, or (hashed=False) read back and hashed only if asked.
        self._hasher = Hasher() if hashed else None
        self._size = 0
        self._ended = False
        self._parked = False  # closed before its fsync: see park()
        self._syncing: Future[None] | None = None  # an fsync under way: see sync_in()
        self._synced = False  # fsynced after its last byte: another fsync is not needed
        self.digest: StoredDigest | None = None

    def write(self, chunk: bytes | bytearray | memoryview) -> None:
        assert self._fd is not None and not self._ended, "write after seal"
        view = memoryview(chunk)
        written = 0
        try:
            while written < len(view):
                written += self._disk.write(self._fd, view[written:])
        except OSError as exc:
            if space.is_full(exc):  # the caller's clean-up (discard) removes the file
                raise OutOfSpace() from exc
            raise
        if self._hasher is not None:
            self._hasher.update(view)
        self._size += len(view)

    @property
    def size(self) -> int:
        return self._size

    def end(self) -> int:
        """No more bytes: the size written. :attr:`digest` is known from here on when the
        file was hashed while written; otherwise :meth:`seal` reads it back to hash it."""
        if not self._ended:
            self._ended = True
            if self._hasher is not None:
                self.digest = self._hasher.digest()
        return self._size

    def seal(self) -> StoredDigest:
        """No more bytes: the digest of what was written (nothing is fsynced yet)."""
        self.end()
        if self.digest is None:
            self.digest = file_digest(self.tmp_path)
            if self.digest.size != self._size:
                raise OSError(
                    errno.EIO, f"{self.tmp_path} holds {self.digest.size} bytes, not {self._size}"
                )
        return self.digest

    def park(self) -> StoredDigest:
        """Seal and close the file without an fsync, for callers that hold many staged
        files at once (an upload being unpacked); :meth:`sync` and :meth:`finish` open it
        again to fsync it."""
        digest = self.seal()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            self._parked = True
        return digest

    def sync_in(self, pool: Executor) -> None:
        """Start the fsync of a file that has all its bytes (:meth:`end`) on ``pool``, so
        that it runs while the caller does other work; :meth:`sync` waits for it."""
        assert self._ended, "sync_in before end"
        if self._fd is not None and self._syncing is None and not self._synced:
            self._syncing = pool.submit(self._disk.fsync, self._fd)

    @space.guarded()
    def sync(self) -> None:
        """fsync the file (once: after its last byte, a second fsync has nothing to do,
        yet would still flush the device's cache). Names linked to it before this call
        are in the same journal commit on ext4 and XFS, so the fsync of their folder that
        POSIX asks for comes nearly free afterwards."""
        if self._syncing is not None:
            syncing, self._syncing = self._syncing, None
            syncing.result()
        elif self._synced:
            return
        elif self._fd is not None:
            self._disk.fsync(self._fd)
        elif self._parked:
            fd = os.open(self.tmp_path, os.O_RDONLY)
            try:
                self._disk.fsync(fd)
            finally:
                os.close(fd)
            self._parked = False
        self._synced = self._ended

    def finish(self) -> StoredDigest:
        """Seal and fsync; after this the content is durable under its temp name."""
        digest = self.seal()
        self.sync()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        return digest

    @space.guarded()
    def link(self, dest: Path, *, replace_orphan: bool = False) -> None:
        """Give the sealed file a second name, ``dest``, without any fsync: the caller
        calls :meth:`finish` and fsyncs ``dest``'s folder before it relies on the name.
        The temporary name stays until :meth:`discard`. With ``replace_orphan`` a file
        already at ``dest`` (left by a writer killed before its catalog commit) is
        replaced; otherwise it is a :class:`Conflict`."""
        self.end()
        try:
            self._link(dest, replace_orphan)
        except FileNotFoundError:
            # A new folder: made (its parents fsynced) only now, which spares every file
            # linked into a folder that exists a look-up.
            make_dirs(dest.parent)
            self._link(dest, replace_orphan)

    def _link(self, dest: Path, replace_orphan: bool) -> None:
        try:
            os.link(self.tmp_path, dest)
        except FileExistsError:
            if not replace_orphan:
                raise Conflict(f"A file already exists at '{dest.name}'.", field="path") from None
            side = dest.with_name(f".{uuid.uuid4().hex}.part")
            os.link(self.tmp_path, side)
            os.replace(side, dest)

    @space.guarded()
    def publish(self, dest: Path, *, overwrite: bool = False) -> None:
        """Give the finished file its final name, atomically.

        Without ``overwrite`` an existing file at ``dest`` is never replaced (a hard link
        fails if the name exists, so two writers cannot both win).
        """
        self.finish()
        make_dirs(dest.parent)
        if overwrite:
            os.replace(self.tmp_path, dest)
        else:
            try:
                os.link(self.tmp_path, dest)
            except FileExistsError:
                raise Conflict(f"A file already exists at '{dest.name}'.", field="path") from None
            except OSError as exc:  # file systems without hard links
                if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
                    raise
                if dest.exists():
                    raise Conflict(
                        f"A file already exists at '{dest.name}'.", field="path"
                    ) from None
                os.rename(self.tmp_path, dest)
            else:
                os.unlink(self.tmp_path)
        fsync_dir(dest.parent)

    def discard(self) -> None:
        if self._syncing is not None:  # the descriptor stays open until its fsync ends
            syncing, self._syncing = self._syncing, None
            with contextlib.suppress(OSError):
                syncing.result()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self.tmp_path.unlink(missing_ok=True)

    def __enter__(self) -> StagedFile:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Published files no longer exist under the temporary name; anything else goes.
        self.discard()


class FileStore:
    """The folders under the data folder: ``archive/``, ``tmp/`` and ``trash/``."""

    def __init__(self, data_dir: Path, *, disk: Disk = DISK) -> None:
        self.data_dir = data_dir.resolve()
        self.disk = disk
        self.archive = self.data_dir / "archive"
        self.tmp = self.data_dir / "tmp"
        self.trash = self.data_dir / "trash"

    def ensure(self) -> None:
        for folder in (self.archive, self.tmp, self.trash):
            make_dirs(folder)

    def reachable(self) -> bool:
        """True when the store can be written: used by the readiness probe."""
        try:
            probe = self.tmp / f".probe-{uuid.uuid4().hex}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError:
            return False
        return True

    @space.guarded()
    def stage(self, *, hashed: bool = True) -> StagedFile:
        return StagedFile(self.tmp / f"{uuid.uuid4().hex}.part", hashed=hashed, disk=self.disk)

    def write(
        self, dest: Path, chunks: Iterable[bytes], *, overwrite: bool = False
    ) -> StoredDigest:
        """Write ``chunks`` to ``dest`` durably and atomically (for callers with no catalog)."""
        with self.stage() as staged:
            for chunk in chunks:
                staged.write(chunk)
            digest = staged.finish()
            staged.publish(dest, overwrite=overwrite)
        return digest

    @space.guarded()
    def move_tree(self, src: Path, dst: Path) -> None:
        """Rename a folder (a relabel or a move); ``dst`` must not exist."""
        if not src.exists():
            return
        if dst.exists():
            raise Conflict(f"The folder '{dst.relative_to(self.data_dir)}' already exists.")
        make_dirs(dst.parent)
        os.rename(src, dst)
        fsync_dir(dst.parent)
        if src.parent != dst.parent:
            fsync_dir(src.parent)

    def remove_tree(self, path: Path) -> None:
        """Delete a folder (or a file): first renamed into ``trash/`` (atomic), then
        removed."""
        if not path.exists():
            return
        target = self.trash / uuid.uuid4().hex
        os.rename(path, target)
        fsync_dir(path.parent)
        if target.is_dir():
            shutil.rmtree(target, ignore_errors=True)
        else:
            target.unlink(missing_ok=True)

    def remove_file(self, path: Path) -> None:
        try:
            path.unlink()
        except FileNotFoundError:
            return
        fsync_dir(path.parent)

    def take_back(self, links: list[tuple[str, str]], backups: list[tuple[str, str]]) -> int:
        """Undo links and replacements that a commit did not follow (names relative to the
        data folder): each ``(source, link)`` whose link is still the source file itself
        (the same inode) is removed, and each ``(backup, original)`` whose backup exists is
        put back over the original. Returns how many names changed."""
        changed: set[Path] = set()
        for source, link in links:
            path = self.data_dir / link
            try:
                if not os.path.samefile(self.data_dir / source, path):
                    continue
                path.unlink()
            except FileNotFoundError:  # never linked, or taken back already
                continue
            changed.add(path)
        for backup, original in backups:
            try:
                os.replace(self.data_dir / backup, self.data_dir / original)
            except FileNotFoundError:  # not made yet, or put back already
                continue
            changed.add(self.data_dir / original)
        for folder in {path.parent for path in changed}:
            fsync_dir(folder)
        return len(changed)

    def clean(self, *, older_than_s: float = 24 * 3600, trash_older_than_s: float = 3600) -> int:
        """Remove temporary files and work folders (pipeline jobs) left by killed writers,
        and what was put in the trash a while ago. Not what is fresh: in a data folder
        shared by several processes, another one may be writing it, or may have set it
        aside until its catalog commits (and put it back if the commit fails)."""
        removed = 0
        cutoff = time.time() - older_than_s
        trash_cutoff = time.time() - trash_older_than_s
        if self.tmp.exists():
            for entry in self.tmp.iterdir():
                if entry.stat().st_mtime >= cutoff:
                    continue
                if entry.is_file():
                    entry.unlink(missing_ok=True)
                    removed += 1
                elif entry.is_dir() and entry.name.startswith("job-"):
                    shutil.rmtree(entry, ignore_errors=True)
                    removed += 1
        if self.trash.exists():
            for entry in self.trash.iterdir():
                if entry.lstat().st_ctime >= trash_cutoff:  # a rename sets it: when put there
                    continue
                shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink()
                removed += 1
        return removed


def file_digest(path: Path, *, sync: bool = False) -> StoredDigest:
    """The checksums of a file, read once; with ``sync`` it is fsynced too."""
    hasher = Hasher()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            hasher.update(chunk)
        if sync:
            os.fsync(fh.fileno())
    return hasher.digest()
