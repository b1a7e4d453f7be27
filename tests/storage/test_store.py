from __future__ import annotations

import errno
import hashlib
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from scandepot.errors import Conflict
from scandepot.storage.store import Disk, FileStore, StagedFile


@pytest.fixture
def store(tmp_path: Path) -> FileStore:
    s = FileStore(tmp_path / "data")
    s.ensure()
    return s


def test_write_is_durable_and_checksummed(store: FileStore) -> None:
    dest = store.archive / "p" / "x" / "f.bin"
    digest = store.write(dest, [b"abc", b"def"])
    assert dest.read_bytes() == b"abcdef"
    assert digest.size == 6
    assert digest.sha256 == hashlib.sha256(b"abcdef").hexdigest()
    assert digest.md5 == hashlib.md5(b"abcdef").hexdigest()
    assert list(store.tmp.iterdir()) == []


def test_existing_file_is_never_replaced_without_overwrite(store: FileStore) -> None:
    dest = store.archive / "f.bin"
    store.write(dest, [b"first"])
    with pytest.raises(Conflict):
        store.write(dest, [b"second"])
    assert dest.read_bytes() == b"first"
    assert list(store.tmp.iterdir()) == []
    store.write(dest, [b"second"], overwrite=True)
    assert dest.read_bytes() == b"second"


def test_failure_half_way_leaves_nothing(store: FileStore) -> None:
    dest = store.archive / "f.bin"

    def chunks():  # type: ignore[no-untyped-def]
        yield b"x" * 1000
        raise OSError("disk pulled out")

    with pytest.raises(OSError, match="disk pulled out"):
        store.write(dest, chunks())
    assert not dest.exists()
    assert list(store.tmp.iterdir()) == []


class FailingDisk(Disk):
    """A device whose fsync fails, from when ``failing`` is set; counts the fsyncs."""

    def __init__(self, *, failing: bool = False) -> None:
        self.failing = failing
        self.synced: list[int] = []

    def fsync(self, fd: int) -> None:
        if self.failing:
            raise OSError(errno.EIO, "I/O error")
        self.synced.append(fd)
        super().fsync(fd)


def test_fsync_failure_leaves_nothing(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "data", disk=FailingDisk(failing=True))
    store.ensure()
    dest = store.archive / "f.bin"
    with pytest.raises(OSError, match="I/O error"):
        store.write(dest, [b"data"])
    assert not dest.exists()
    assert list(store.tmp.iterdir()) == []


def test_move_and_remove_tree(store: FileStore) -> None:
    store.write(store.archive / "a" / "f.bin", [b"1"])
    store.move_tree(store.archive / "a", store.archive / "b" / "c")
    assert (store.archive / "b" / "c" / "f.bin").read_bytes() == b"1"
    assert not (store.archive / "a").exists()
    store.write(store.archive / "d" / "g.bin", [b"2"])
    with pytest.raises(Conflict):
        store.move_tree(store.archive / "d", store.archive / "b" / "c")
    store.remove_tree(store.archive / "b")
    assert not (store.archive / "b").exists()
    assert list(store.trash.iterdir()) == []


def test_clean_removes_stale_temporary_files_only(store: FileStore) -> None:
    stale = store.tmp / "old.part"
    stale.write_bytes(b"x")
    os.utime(stale, (1, 1))
    fresh = store.tmp / "new.part"
    fresh.write_bytes(b"y")
    (store.trash / "leftover").mkdir()
    assert store.clean(trash_older_than_s=0) == 2
    assert not stale.exists()
    assert fresh.exists()
    assert list(store.trash.iterdir()) == []


def test_clean_leaves_what_another_process_set_aside_just_now(store: FileStore) -> None:
    """A server starting beside others on one data folder: a folder another process moved
    into the trash until its catalog commits stays, so that a failed commit can put it
    back."""
    (store.trash / "aside").mkdir()
    assert store.clean() == 0 and (store.trash / "aside").is_dir()


def test_clean_removes_work_folders_of_killed_jobs(store: FileStore) -> None:
    store.ensure()
    old = store.tmp / "job-7-0123abcd"
    (old / "dcm2niix").mkdir(parents=True)
    (old / "dcm2niix" / "x.nii.gz").write_bytes(b"half")
    recent = store.tmp / "job-8-4567ef01"
    recent.mkdir()
    past = time.time() - 2 * 24 * 3600
    os.utime(old, (past, past))
    assert store.clean() == 1
    assert not old.exists() and recent.is_dir()


def test_unhashed_staging_hashes_only_when_asked(store: FileStore) -> None:
    staged = store.stage(hashed=False)
    staged.write(b"abc")
    staged.write(b"def")
    assert staged.end() == 6
    assert staged.digest is None  # nothing hashed on the way in
    digest = staged.seal()  # read back
    assert (digest.size, digest.sha256) == (6, hashlib.sha256(b"abcdef").hexdigest())
    assert digest.md5 == hashlib.md5(b"abcdef").hexdigest()
    with pytest.raises(AssertionError, match="write after seal"):
        staged.write(b"more")
    staged.discard()


def test_an_unhashed_file_that_changed_on_disk_is_not_hashed_as_received(
    store: FileStore,
) -> None:
    staged = store.stage(hashed=False)
    staged.write(b"abcdef")
    staged.end()
    with open(staged.tmp_path, "ab") as other:  # someone else's bytes
        other.write(b"!")
    with pytest.raises(OSError, match="holds 7 bytes, not 6"):
        staged.seal()
    staged.discard()


def test_a_staged_file_is_fsynced_once_and_in_the_background_when_asked(tmp_path: Path) -> None:
    disk = FailingDisk()
    store = FileStore(tmp_path / "data", disk=disk)
    store.ensure()
    staged = store.stage(hashed=False)
    staged.write(b"x" * 100_000)
    with pytest.raises(AssertionError, match="sync_in before end"):
        staged.sync_in(ThreadPoolExecutor(1))
    staged.end()
    with ThreadPoolExecutor(1) as pool:
        staged.sync_in(pool)
        staged.sync_in(pool)  # already under way: not a second one
        staged.sync()  # waits for it
        staged.sync()  # nothing written since: no fsync, no device flush
    assert len(disk.synced) == 1
    dest = store.archive / "new" / "folder" / "f.bin"
    staged.link(dest)  # the folder is made when the link finds it missing
    staged.discard()
    assert dest.read_bytes() == b"x" * 100_000
    assert list(store.tmp.iterdir()) == []


def test_a_failed_background_fsync_is_raised_to_whoever_waits_for_it(tmp_path: Path) -> None:
    disk = FailingDisk()
    store = FileStore(tmp_path / "data", disk=disk)
    store.ensure()
    staged = store.stage(hashed=False)
    staged.write(b"data")
    staged.end()
    disk.failing = True
    with ThreadPoolExecutor(1) as pool:
        staged.sync_in(pool)
        with pytest.raises(OSError, match="I/O error"):
            staged.sync()
    staged.discard()
    assert list(store.tmp.iterdir()) == []


def test_staged_file_sync_then_link_is_durable_under_both_names(tmp_path: Path) -> None:
    staged = StagedFile(tmp_path / "x.part")
    staged.write(b"abc")
    digest = staged.seal()
    dest = tmp_path / "a" / "b.dcm"
    staged.link(dest)
    staged.finish()
    staged.discard()
    assert dest.read_bytes() == b"abc" and digest.size == 3
    again = StagedFile(tmp_path / "y.part")
    again.write(b"other")
    again.link(dest, replace_orphan=True)  # an orphan left by a killed writer
    again.discard()
    assert dest.read_bytes() == b"other"
