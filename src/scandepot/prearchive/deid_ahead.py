"""The archive script run while a staged session waits, so that archiving links the
copies it made instead of making them (docs/deid.md, "As sessions are archived").

Checksums are computed in the quiet time before a build (:mod:`.digests`); the archive
script's copies are made then too (:func:`make`, from the builder's pass), and kept in
the session's spool folder::

    prearchive/{staged session}/deid/{state}/{instance row}.dcm
    prearchive/{staged session}/deid/{state}/manifest.json

``{state}`` is a digest of everything the copies depend on: the project, the script
version and its checksum, the fingerprint of the project's key and pseudonym table, the
subject and session labels, and each instance to archive with the checksum of its staged
file. A folder whose name is not the state now is stale and removed at the next pass;
the folder is written under ``{state}.part`` and renamed once its copies are fsynced and
its manifest written, so a process killed meanwhile leaves only a ``.part`` folder, which
nothing reads and the next pass removes. A script that refuses an instance leaves
``{state}.failed``, so that the pass does not try again until something changes; the
archive meets the failure and says so.

Archiving (:func:`held`) takes the one complete folder, if any, as a
:class:`~.deidentify.Prepared`; the archive's transaction checks it as it checks copies
made on the spot (:func:`.deidentify.current`, :func:`.deidentify.apply`), and anything
stale is made again on the spot. The spool folder, copies included, goes when the session
is archived or deleted. A lock on ``deid/.lock`` keeps a pass from replacing copies that
an archive is linking.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import fcntl
import hashlib
import json
import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from scandepot.context import Context
from scandepot.dicom.headers import Header
from scandepot.prearchive import deidentify, digests
from scandepot.prearchive.deidentify import Copy, Prepared
from scandepot.storage import spool
from scandepot.storage.store import StoredDigest, fsync_dir, make_dirs

log = logging.getLogger("scandepot.prearchive")

FOLDER = "deid"
MANIFEST = "manifest.json"
LOCK = ".lock"
FORMAT = 1
_DATES = frozenset(f.name for f in dataclasses.fields(Header) if "dt.date" in str(f.type))
_TIMES = frozenset(f.name for f in dataclasses.fields(Header) if "dt.time" in str(f.type))


def folder(ctx: Context, staged_id: int) -> Path:
    return spool.folder(ctx.store, staged_id) / FOLDER


@contextmanager
def _lock(ctx: Context, staged_id: int, *, wait: bool) -> Iterator[bool]:
    """The session's copies held: True when this caller holds them (``wait`` False: at
    once or not at all)."""
    base = folder(ctx, staged_id)
    make_dirs(base)
    fd = os.open(base / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # and the lock with it


def _state(prepared: Prepared, rows: list[tuple[int, str | None]]) -> str:
    """The digest that names a folder of copies: what they are made from and by."""
    what = [prepared.version, prepared.sha256, prepared.keys, list(prepared.labels), rows]
    return hashlib.sha256(json.dumps(what).encode()).hexdigest()[:32]


def make(ctx: Context, staged_id: int) -> int:
    """Make the archive script's copies of a waiting session's instances, unless they are
    made already (or being used); returns how many were made. The checksums of the staged
    files, which the copies are keyed by, are computed first (:mod:`.digests`). Copies
    still current for an instance (same script, keys and labels, same staged bytes) are
    taken from the folder before: a session that grows is not made again whole."""
    if not spool.folder(ctx.store, staged_id).is_dir():
        return 0
    digests.complete(ctx, staged_id)
    try:
        plan = deidentify.inputs(ctx, staged_id)  # the archive checks it again
    except deidentify.DeidFailed:  # a script this version cannot load: the archive says so
        return 0
    if plan is None and not folder(ctx, staged_id).is_dir():
        return 0  # no script in force, nothing made before: no folder made either
    with _lock(ctx, staged_id, wait=False) as held_here:
        if not held_here:
            return 0
        if plan is None or any(row.sha256 is None for row in plan.rows):
            _clear(ctx, staged_id)
            return 0
        name = _state(plan.prepared, sorted((row.id, row.sha256) for row in plan.rows))
        base = folder(ctx, staged_id)
        if (base / name / MANIFEST).is_file() or (base / f"{name}.failed").is_file():
            return 0
        before = _current(ctx, staged_id)
        _clear(ctx, staged_id, keep=before.path if before is not None else None)
        kept = _still_current(before.prepared, plan) if before is not None else {}
        todo = dataclasses.replace(plan, rows=[row for row in plan.rows if row.id not in kept])
        try:
            prepared = deidentify.prepare(ctx, staged_id, todo)
        except deidentify.DeidFailed as exc:
            ctx.store.write(base / f"{name}.failed", [exc.message.encode()])
            return 0
        assert prepared is not None, "a plan was given"
        made = len(prepared.copies)
        prepared.copies.update(kept)
        try:
            _keep(ctx, prepared, base, name)
        finally:
            prepared.discard()  # the temporary names; the folder holds the copies
        _clear(ctx, staged_id, keep=base / name)
        return made


@dataclasses.dataclass(frozen=True, slots=True)
class _Found:
    path: Path
    prepared: Prepared


def _current(ctx: Context, staged_id: int) -> _Found | None:
    """The one complete folder of copies, read; None if there is none (or it is not
    readable)."""
    base = folder(ctx, staged_id)
    found = [p for p in base.iterdir() if is_complete(p)] if base.is_dir() else []
    prepared = _load(ctx, found[0]) if len(found) == 1 else None
    return _Found(found[0], prepared) if prepared is not None else None


def _still_current(before: Prepared, plan: deidentify.Inputs) -> dict[int, Copy]:
    """The copies of ``before`` that ``plan`` would make again, byte for byte: made by the
    same script with the same keys and labels, from the same staged bytes."""
    now = plan.prepared
    if (before.version, before.sha256, before.keys, before.labels) != (
        now.version,
        now.sha256,
        now.keys,
        now.labels,
    ):
        return {}
    return {
        row.id: before.copies[row.id]
        for row in plan.rows
        if row.id in before.copies and before.copies[row.id].source_sha256 == row.sha256
    }


def _keep(ctx: Context, prepared: Prepared, base: Path, name: str) -> None:
    """The copies (fsynced in tmp/) linked into ``{name}.part``, the manifest written,
    the folder renamed to ``name``."""
    part = base / f"{name}.part"
    make_dirs(part)
    copies: list[list[Any]] = []
    for row_id, copy in prepared.copies.items():
        os.link(copy.path, part / f"{row_id}.dcm")
        d = copy.digest
        header = {key: _json(value) for key, value in dataclasses.asdict(copy.header).items()}
        copies.append(
            [row_id, copy.original_series, copy.source_sha256, d.size, d.md5, d.sha256, d.crc32]
            + [header]
        )
    fsync_dir(part)
    manifest = {
        "format": FORMAT,
        "staged_id": prepared.staged_id,
        "script": [prepared.version, prepared.sha256, prepared.label],
        "keys": prepared.keys,
        "labels": list(prepared.labels),
        "copies": copies,
    }
    ctx.store.write(part / MANIFEST, [json.dumps(manifest).encode()])
    os.rename(part, base / name)
    fsync_dir(base)


def _json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date | dt.time) else value


def _clear(ctx: Context, staged_id: int, *, keep: Path | None = None) -> None:
    """Remove every folder of copies but ``keep`` (stale, half-made or failed)."""
    base = folder(ctx, staged_id)
    if not base.is_dir():
        return
    for entry in base.iterdir():
        if entry.name == LOCK or entry == keep:
            continue
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
    fsync_dir(base)


@contextmanager
def held(ctx: Context, staged_id: int) -> Iterator[Prepared | None]:
    """For an archive: the copies made while the session waited, if there are any, held
    until the archive is over (committed or not)."""
    base = folder(ctx, staged_id)
    if not base.is_dir():
        yield None
        return
    with _lock(ctx, staged_id, wait=True):
        found = _current(ctx, staged_id)
        yield found.prepared if found is not None else None


def is_complete(path: Path) -> bool:
    """A folder of copies renamed to its state once complete (not ``.part``)."""
    return "." not in path.name and (path / MANIFEST).is_file()


def drop(ctx: Context, staged_id: int) -> None:
    """Copies found stale by the archive: removed (the holder of the lock calls this)."""
    _clear(ctx, staged_id)


def _load(ctx: Context, where: Path) -> Prepared | None:
    try:
        manifest = json.loads((where / MANIFEST).read_bytes())
    except (OSError, ValueError) as exc:
        log.warning("de-identified copies in %s not read: %s", where, exc)
        return None
    if manifest.get("format") != FORMAT:
        return None
    version, sha256, label = manifest["script"]
    project, subject, session = manifest["labels"]
    prepared = Prepared(
        manifest["staged_id"],
        version,
        sha256,
        label,
        manifest["keys"],
        (project, subject, session),
        ctx.store.data_dir,
    )
    for row_id, series, source, size, md5, sha, crc32, header in manifest["copies"]:
        prepared.copies[row_id] = Copy(
            series,
            where / f"{row_id}.dcm",
            StoredDigest(size, md5, sha, crc32),
            Header(**{key: _value(key, value) for key, value in header.items()}),
            source,
        )
    return prepared


def _value(key: str, value: Any) -> Any:
    if value is None:
        return None
    if key in _DATES:
        return dt.date.fromisoformat(value)
    if key in _TIMES:
        return dt.time.fromisoformat(value)
    return value
