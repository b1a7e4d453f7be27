"""storage.changes: file changes undone when the block fails, finished when it ends."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from scandepot.errors import Conflict
from scandepot.storage.changes import Changes, Link, undo_journal
from scandepot.storage.store import FileStore


@pytest.fixture
def store(tmp_path: Path) -> FileStore:
    made = FileStore(tmp_path / "data")
    made.ensure()
    return made


def put(path: Path, body: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)
    return path


def test_a_failed_block_takes_every_change_back(store: FileStore) -> None:
    spool = put(store.data_dir / "prearchive" / "1" / "a.dcm", b"new")
    old = put(store.archive / "s" / "a.dcm", b"old")
    folder = put(store.tmp / "out" / "x.nii", b"x").parent
    staged = store.stage()
    staged.write(b"published")
    with pytest.raises(RuntimeError), Changes(store) as changes:
        changes.link([Link(spool, store.archive / "s" / "b.dcm")])
        changes.replace([(spool, old)])
        changes.publish(staged, store.archive / "s" / "c.txt")
        changes.set_aside(store.archive / "s")
        changes.move_tree(folder, store.archive / "s")
        raise RuntimeError("the commit failed")
    assert old.read_bytes() == b"old"
    assert sorted(p.name for p in (store.archive / "s").iterdir()) == ["a.dcm"]
    assert (folder / "x.nii").read_bytes() == b"x"
    assert [p for p in store.tmp.iterdir() if p.is_file()] == []


def test_a_block_that_ends_keeps_the_changes_and_drops_the_backups(store: FileStore) -> None:
    spool = put(store.data_dir / "prearchive" / "1" / "a.dcm", b"new")
    old = put(store.archive / "s" / "a.dcm", b"old")
    journal = store.data_dir / "prearchive" / "1" / "journal"
    with Changes(store, journal=journal) as changes:
        changes.replace([(spool, old)])
        changes.link([Link(spool, store.archive / "t" / "a.dcm")])
        assert journal.is_file()
    assert old.read_bytes() == b"new" and (store.archive / "t" / "a.dcm").samefile(spool)
    assert list(store.tmp.iterdir()) == [] and not journal.exists()


def test_a_journal_left_by_a_killed_process_is_undone(store: FileStore) -> None:
    spool = put(store.data_dir / "prearchive" / "1" / "a.dcm", b"new")
    old = put(store.archive / "s" / "a.dcm", b"old")
    journal = store.data_dir / "prearchive" / "1" / "journal"
    changes = Changes(store, journal=journal)
    changes.replace([(spool, old)])
    changes.link([Link(spool, store.archive / "s" / "b.dcm")])
    with journal.open("ab") as fh:
        fh.write(b'{"link": ["prearchive/1/a.dc')  # a line cut short by the kill
    assert undo_journal(store, journal) == 2
    assert old.read_bytes() == b"old" and not (store.archive / "s" / "b.dcm").exists()
    assert not journal.exists()


def test_a_file_with_other_bytes_in_the_way_is_a_conflict(store: FileStore) -> None:
    spool = put(store.data_dir / "prearchive" / "1" / "a.dcm", b"new")
    put(store.archive / "s" / "a.dcm", b"other")
    same = put(store.archive / "s" / "b.dcm", b"new")
    digest = hashlib.sha256(b"new").hexdigest()
    with Changes(store) as changes:
        changes.link([Link(spool, same, 3, digest)])  # the same bytes: taken as done
    assert same.read_bytes() == b"new"
    with pytest.raises(Conflict), Changes(store) as changes:
        changes.link([Link(spool, store.archive / "s" / "a.dcm", 3, digest)])
    assert (store.archive / "s" / "a.dcm").read_bytes() == b"other"
