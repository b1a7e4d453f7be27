"""De-identified downloads: the selection's DICOM instances through the project's export
script, streamed in the archive; the stored files are never changed.

Refused before the first byte (ordinary error responses): access and the selection, as
for any download (:func:`scandepot.export.downloads.resolve`); a project without an
export script in force (409); a selection without a DICOM instance (404).

Then each DICOM instance (a file the catalog holds an instance row for) is read whole
into memory, checked as any download checks its files (:func:`~.archives.open_checked`),
de-identified and verified (:class:`~.deidentified.Deidentifier`), and sent; one instance
is held at a time, never a temporary copy of the archive. Its length is not known ahead,
so the archive goes without ``Content-Length``, and its manifest comes last: the
checksums of the de-identified files are known only once they are made.

An instance that is refused (by the script, by the verification, burned-in annotation,
not DICOM) is left out and listed under ``refused`` in the manifest; the rest of the
download goes on. Files that are not DICOM instances (NIfTI, reports, any resource of
other files) are left out too, and counted by resource under ``left_out``: nothing
de-identifies them. See docs/downloads.md.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from scandepot.access import audit
from scandepot.access.actors import Actor
from scandepot.access.audit import AuditAction
from scandepot.catalog.archive import Project
from scandepot.catalog.prearchive import Instance
from scandepot.context import Context
from scandepot.db.base import utcnow
from scandepot.errors import NotFound
from scandepot.export import manifest
from scandepot.export.archives import Format, Member, open_checked, packed, read_opened, writer
from scandepot.export.deidentified import Deidentifier, InstanceRefused, Refusal, load
from scandepot.export.downloads import Download, Target, resolve
from scandepot.export.layouts import Layout, Where, namer
from scandepot.export.selection import Entry, Resolved

log = logging.getLogger("scandepot.export")
_IN_CHUNK = 500


@dataclass
class Outcome:
    """What the stream made, for the manifest at its end."""

    files: list[dict[str, Any]] = field(default_factory=list)
    refused: list[dict[str, Any]] = field(default_factory=list)


def _dicom_files(ctx: Context, entries: list[Entry]) -> set[int]:
    """The IDs of the entries' files that are catalogued DICOM instances."""
    ids = [e.file_id for e in entries]
    found: set[int] = set()
    with ctx.db.read() as db:
        for start in range(0, len(ids), _IN_CHUNK):
            chunk = ids[start : start + _IN_CHUNK]
            rows = db.scalars(select(Instance.file_id).where(Instance.file_id.in_(chunk)))
            found.update(i for i in rows if i is not None)
    return found


def _left_out(entries: list[Entry]) -> list[dict[str, Any]]:
    """The files that are not DICOM instances, counted by resource (their names are not
    listed: a file name may identify someone)."""
    counted: dict[tuple[str | None, str | None, str | None, str], int] = {}
    for e in entries:
        key = (e.where.subject, e.where.session, e.where.scan, e.where.resource)
        counted[key] = counted.get(key, 0) + 1
    return [
        {
            "subject": subject,
            "session": session,
            "scan": scan,
            "resource": resource,
            "files": files,
            "reason": "not a DICOM instance: nothing de-identifies it",
        }
        for (subject, session, scan, resource), files in counted.items()
    ]


def prepare(
    ctx: Context,
    actor: Actor,
    target: Target,
    layout: Layout,
    fmt: Format,
    *,
    allow_burned_in: bool = False,
) -> Download:
    """Check and resolve a de-identified download; see the module docstring."""
    started = time.time_ns()  # before the catalog is read: files changed later are refused
    resolved = resolve(ctx, actor, target, layout)
    with ctx.db.write() as db:  # the project's keys are made at first use
        project_id = db.scalar(select(Project.id).where(Project.label == resolved.project))
        assert project_id is not None
        deid = load(db, project_id, resolved.project, allow_burned_in=allow_burned_in)
    dicom = _dicom_files(ctx, resolved.entries)
    chosen = [e for e in resolved.entries if e.file_id in dicom]
    if not chosen:
        raise NotFound(
            "The selection holds no DICOM instance: a de-identified download holds DICOM "
            "instances only.",
            field="selection",
        )
    others = [e for e in resolved.entries if e.file_id not in dicom]
    filename = f"{target.stem()}-deid.{fmt.value}"
    sessions = sorted({e.where.session for e in chosen if e.where.session is not None})
    audit.record_now(
        ctx,
        actor,
        AuditAction.DEID_DOWNLOAD,
        project=resolved.project,
        target=", ".join(sessions) or filename,
        script=deid.script_label,
        files=len(chosen),
        left_out=len(others),
        format=fmt.value,
        layout=layout.value,
        selection=resolved.selection,
        allow_burned_in=allow_burned_in or None,
    )
    plan = _Plan(ctx.store.archive, resolved, chosen, _left_out(others), deid, fmt, started)
    return Download(
        resolved,
        fmt,
        filename,
        [],
        started,
        None,
        files_ahead=ctx.settings.download_files_ahead,
        made=plan.chunks,
    )


@dataclass(frozen=True, slots=True)
class _Plan:
    archive: Path  # the file store's archive folder
    resolved: Resolved
    entries: list[Entry]
    left_out: list[dict[str, Any]]
    deid: Deidentifier
    format: Format
    started_ns: int

    def chunks(self) -> Iterator[bytes]:
        return packed(self.format, self._pieces())

    def _pieces(self) -> Iterator[bytes]:
        out = writer(Format.TAR if self.format is Format.TAR_GZ else self.format)
        done = Outcome()
        names: set[str] = set()
        now = utcnow()
        for entry in self.entries:
            member = self._one(entry, names, done, now)
            if member is not None:
                assert member.data is not None
                yield out.head(member, None)
                yield member.data
                yield out.tail(member)
        for member in self._manifests(done, now):
            yield out.head(member, None)
            yield member.data or b""
            yield out.tail(member)
        yield out.end()

    def _one(self, entry: Entry, names: set[str], done: Outcome, now: dt.datetime) -> Member | None:
        """The entry de-identified as an archive member, or None when it is refused."""
        path = f"{self.archive}/{entry.source}"
        stored = Member(entry.name, entry.size, entry.modified, path=path)
        raw = b"".join(read_opened(open_checked(stored, self.started_ns)))
        w = entry.where
        try:
            made = self.deid.run(raw, subject=w.subject, session=w.session)
            where = dataclasses.replace(w, path=f"{made.SOPInstanceUID}.dcm")
            name = namer(self.resolved.layout, dataclasses.replace(where, path=""))(where.path)
            if name in names:
                raise InstanceRefused(
                    Refusal("refused", "Another instance has the same SOP Instance UID.")
                )
        except InstanceRefused as exc:
            log.warning(
                "de-identified download from %s: %s/%s/%s/%s refused: %s",
                self.resolved.project,
                w.subject,
                w.session,
                w.scan,
                w.path,
                exc.refusal.message,
            )
            done.refused.append(_refused(w, exc.refusal))
            return None
        names.add(name)
        done.files.append(_listed(name, where, made.data))
        return Member(name, len(made.data), now, data=made.data)

    def _manifests(self, done: Outcome, now: dt.datetime) -> list[Member]:
        doc = {
            "manifest_version": manifest.VERSION,
            "project": self.resolved.project,
            "layout": self.resolved.layout.value,
            "selection": self.resolved.selection,
            "created": now.isoformat().replace("+00:00", "Z"),
            "deidentified": {"script": self.deid.script_label},
            "file_count": len(done.files),
            "total_size": sum(f["size"] for f in done.files),
            "refused": done.refused,
            "left_out": self.left_out,
            "files": done.files,
        }
        listed = manifest.to_bytes(doc)
        sums = "".join(f"{f['sha256']}  {f['name']}\n" for f in done.files).encode()
        return [
            Member(manifest.MANIFEST_NAME, len(listed), now, data=listed),
            Member(manifest.SHA256SUMS_NAME, len(sums), now, data=sums),
        ]


def _listed(name: str, where: Where, data: bytes) -> dict[str, Any]:
    return {
        "name": name,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "md5": hashlib.md5(data, usedforsecurity=False).hexdigest(),
        "subject": where.subject,
        "session": where.session,
        "scan": where.scan,
        "scan_type": where.scan_type,
        "resource": where.resource,
        "path": where.path,
    }


def _refused(w: Where, refusal: Refusal) -> dict[str, Any]:
    """A refused instance, named by where it is, not by its file name (the original SOP
    Instance UID, which the download must not carry)."""
    return {
        "subject": w.subject,
        "session": w.session,
        "scan": w.scan,
        "resource": w.resource,
        "code": refusal.code,
        "reason": refusal.message,
    }
