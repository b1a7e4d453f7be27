"""The staging areas that are folders of the file store alone, with no catalog rows: the
temporary files of uploads and downloads, and the pipelines' scratch folders. Both live in
``tmp/`` of the data folder (:class:`scandepot.storage.store.FileStore`).

- Temporary files: ``tmp/*.part``, what :meth:`FileStore.stage` writes before a file gets
  its name (every upload, STOW-RS and import member; a download streams from the archive
  and writes none today: one that does writes here). Its time begins at its last change,
  so a file still being written is never due while its writer keeps writing. The backups
  and journals that an interrupted change needs to be undone (``*.replaced``,
  ``*.journal``) are no area's: start-up takes them back.
- Scratch: ``tmp/job-<id>-<claim>``, a pipeline job's work folder; the runner removes it
  when the job ends, so what stays was left by a process that died. One whose job still
  runs under that claim is never removed. Its project is the job's, and its launcher is
  told.

An item is set aside (renamed into the trash, atomically) in the run's transaction and
removed once the audit entry is committed; a rename that finds the file gone removes
nothing and records nothing.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session as DBSession

from scandepot.catalog.archive import Project
from scandepot.catalog.pipelines import Job, JobStatus
from scandepot.context import Context
from scandepot.retention.areas import TITLES, AreaName, Item
from scandepot.storage.changes import Changes

TEMPORARY = re.compile(r"^[0-9a-f]{32}\.part$")
SCRATCH = re.compile(r"^job-(\d{1,18})-([0-9A-Za-z_-]{1,8})$")


def _changed_at(path: Path) -> dt.datetime:
    return dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)


def _tree_size(path: Path) -> int:
    total = 0
    for folder, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += (Path(folder) / name).lstat().st_size
            except FileNotFoundError:
                continue
    return total


def _set_aside(ctx: Context, changes: Changes, path: Path, item: Item) -> bool:
    """Move ``path`` into the trash if it is still the item planned (not changed since)."""
    try:
        if _changed_at(path) != item.eligible_at:
            return False
    except FileNotFoundError:
        return False
    return changes.set_aside(path)


class TemporaryArea:
    name = AreaName.TEMPORARY
    title = TITLES[AreaName.TEMPORARY]

    def items(self, ctx: Context) -> list[Item]:
        found = []
        for path in sorted(ctx.store.tmp.glob("*.part")) if ctx.store.tmp.is_dir() else []:
            if not TEMPORARY.match(path.name):
                continue
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            changed = dt.datetime.fromtimestamp(stat.st_mtime, dt.UTC)
            found.append(
                Item(
                    self.name, path.name, f"temporary file {path.name}", None, changed, stat.st_size
                )
            )
        return found

    def remove(self, ctx: Context, db: DBSession, changes: Changes, item: Item) -> bool:
        if not TEMPORARY.match(item.key):
            return False
        return _set_aside(ctx, changes, ctx.store.tmp / item.key, item)


class ScratchArea:
    name = AreaName.SCRATCH
    title = TITLES[AreaName.SCRATCH]

    def items(self, ctx: Context) -> list[Item]:
        folders = []
        if ctx.store.tmp.is_dir():
            folders = [p for p in sorted(ctx.store.tmp.glob("job-*")) if SCRATCH.match(p.name)]
        if not folders:
            return []
        ids = {int(m.group(1)) for p in folders if (m := SCRATCH.match(p.name))}
        with ctx.db.read() as db:
            jobs = {
                job.id: (job, label)
                for job, label in db.execute(
                    select(Job, Project.label)
                    .join(Project, Project.id == Job.project_id)
                    .where(Job.id.in_(ids))
                )
            }
        found = []
        for path in folders:
            match = SCRATCH.match(path.name)
            assert match is not None
            job, label = jobs.get(int(match.group(1)), (None, None))
            if job is not None and _running(job, match.group(2)):
                continue
            try:
                changed = _changed_at(path)
            except FileNotFoundError:
                continue
            what = f"work folder of job {match.group(1)}" + (f" ({job.pipeline})" if job else "")
            people = (job.launched_by,) if job is not None else ()
            found.append(
                Item(self.name, path.name, what, label, changed, _tree_size(path), None, people)
            )
        return found

    def remove(self, ctx: Context, db: DBSession, changes: Changes, item: Item) -> bool:
        match = SCRATCH.match(item.key)
        if match is None:
            return False
        job = db.get(Job, int(match.group(1)))
        if job is not None and _running(job, match.group(2)):
            return False
        return _set_aside(ctx, changes, ctx.store.tmp / item.key, item)


def _running(job: Job, claim: str) -> bool:
    return job.status == JobStatus.RUNNING.value and (job.claim or "").startswith(claim)
