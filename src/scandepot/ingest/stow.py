"""STOW-RS (PS3.18 §10.5): DICOM instances sent as the parts of a multipart/related body.

The body is split as it arrives (:mod:`.multipart`); each part is written straight to a
staged file of the file store, never gathered in memory. A part that arrives whole is
checked (a DICOM instance, with its UIDs, of the study the path names, into a project the
caller may upload to) and filed through :mod:`.receive`, the one way in that C-STORE and
uploads take, in batches of one catalog transaction each, durable before the answer. What
happens next is what happens to a C-STORE instance: it waits in its project's prearchive
and is built after the quiet time, then archived if the project's upload destination says
so. A part that fails, fails alone: the other parts go on.

A request is refused before its body is read when the caller may not store (401, 404,
403 as every loader refuses), when its Content-Type is not ``multipart/related`` of
``application/dicom`` (415) or has no boundary (400), or when the caller accepts no
``application/dicom+json`` answer (406). A body that breaks off (no closing boundary, a
malformed part) is answered 400; the parts that arrived whole before it are stored, as
they would have been in a well-formed request, and the truncated one is not. docs/dicomweb.md
is the conformance statement.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydicom import dcmread
from sqlalchemy import func, select

from scandepot.access import audit, permissions
from scandepot.access.actors import Actor
from scandepot.access.audit import AuditAction
from scandepot.access.permissions import Action
from scandepot.catalog.archive import Project
from scandepot.context import Context
from scandepot.dicom import uids
from scandepot.dicom.headers import Header, NotDicom, read_file_header
from scandepot.dicom.routing import route
from scandepot.errors import OutOfSpace, ScandepotError
from scandepot.ingest import stow_checks as checks
from scandepot.ingest import stow_response as res
from scandepot.ingest.multipart import Malformed, Splitter, media_type
from scandepot.ingest.receive import Incoming, Placements, Source, file_batch
from scandepot.ingest.stow_checks import DICOM, NotAcceptable, Request
from scandepot.ingest.stow_response import MEDIA_TYPE, Answer, Outcome
from scandepot.storage.store import StagedFile

log = logging.getLogger("scandepot.ingest")

__all__ = ["MEDIA_TYPE", "Answer", "NotAcceptable", "Request", "Store", "dumps", "open_store"]

BATCH = 64  # instances filed per catalog transaction (and staged files open at once)
MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"  # a DICOMDIR: an index, not an instance
PART10_HEAD = bytes(128) + b"DICM"  # the preamble and prefix of a Part 10 file
# fsyncs of complete parts, started with their last byte: they run while the next part
# arrives, and filing waits for each.
_SYNCER = ThreadPoolExecutor(max_workers=8, thread_name_prefix="stow-fsync")


def open_store(ctx: Context, actor: Actor, request: Request) -> Store:
    """The checks that need no body, then a :class:`Store` to feed the body to."""
    project = _target_project(ctx, actor, request.project)
    boundary = checks.boundary_of(request)
    return Store(ctx, actor, request, project, boundary)


def _target_project(ctx: Context, actor: Actor, project: str | None) -> str | None:
    """The project's label, if the caller may upload to it (fails closed as loaders do);
    for the site-wide root, the caller must be signed in (anonymous callers store nothing
    anywhere, so asking them to sign in says nothing about any project)."""
    if project is None:
        permissions.require_signed_in(actor)
        return None
    with ctx.db.read() as db:
        return permissions.load_project(db, actor, project, Action.UPLOAD).label


@dataclass(slots=True)
class _Part:
    staged: StagedFile | None = None
    size: int = 0
    failure: tuple[int, str] | None = None  # known before its end: the part fails
    head: bytearray | None = field(default_factory=bytearray)  # until its form is known


@dataclass(slots=True)
class _Filed:
    incoming: Incoming
    project: str | None


@dataclass(slots=True)
class _Counts:
    files: Counter[str | None] = field(default_factory=Counter)
    added: Counter[str | None] = field(default_factory=Counter)


class Store:
    """One request's body: :meth:`feed` it, then :meth:`finish`; :meth:`close` always."""

    def __init__(
        self, ctx: Context, actor: Actor, request: Request, project: str | None, boundary: str
    ) -> None:
        self.ctx = ctx
        self.actor = actor
        self.request = request
        self.project = project
        self._splitter = Splitter(boundary, self)
        self._part: _Part | None = None
        self._pending: list[_Filed] = []
        self._outcomes: list[Outcome] = []
        self._placements = Placements()
        self._sources: dict[str | None, Source | None] = {}
        self._counts = _Counts()
        self._done = False

    # -- the body ------------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        try:
            self._splitter.feed(data)
        except Malformed as exc:
            self._wrap_up()
            raise self._told(exc) from None

    def finish(self) -> Answer:
        """The body has ended: the answer (400 when it broke off, see the module)."""
        try:
            self._splitter.close()
        except Malformed as exc:
            self._wrap_up()
            raise self._told(exc) from None
        self._wrap_up()
        if not self._outcomes:
            raise Malformed("The multipart body holds no parts: nothing to store.")
        return res.answer(self._outcomes, self.request.root_url)

    def close(self) -> None:
        """After :meth:`finish`, or instead of it when the request failed otherwise (too
        large, the client gone): the parts that arrived whole are filed, nothing else
        is kept."""
        self._wrap_up()

    def _wrap_up(self) -> None:
        if self._done:
            return
        self._done = True
        part, self._part = self._part, None
        if part is not None and part.staged is not None:
            part.staged.discard()  # truncated: nothing of it is kept
        try:
            if self._pending:
                self._file()
        finally:
            self._audit()

    def _told(self, exc: Malformed) -> Malformed:
        stored = [o for o in self._outcomes if o.stored]
        if not stored:
            return Malformed(f"{exc.message} Nothing was stored.")
        told = Malformed(
            f"{exc.message} The {len(stored)} instance(s) whose parts arrived whole before "
            "it were stored (listed in details); sending the request again is safe."
        )
        told.details = [{"name": o.sop_instance, "reason": "stored"} for o in stored[:1000]]
        return told

    # -- one part (the splitter's sink) ----------------------------------------------------

    def begin(self, headers: dict[str, str]) -> None:
        part = self._part = _Part()
        kind = media_type(headers.get("content-type"))[0]
        if kind and kind != DICOM:
            part.failure = (
                res.CANNOT_UNDERSTAND,
                f"A part of type '{kind}': only {DICOM} parts are stored.",
            )
            return
        try:
            part.staged = self.ctx.store.stage(hashed=False)
        except OSError as exc:
            log.error("cannot stage a STOW part: %s", exc)
            part.failure = (res.OUT_OF_RESOURCES, "The server could not stage the instance.")

    def data(self, chunk: memoryview) -> None:
        part = self._part
        assert part is not None
        before = part.size
        part.size += len(chunk)
        if part.staged is None or part.failure is not None:
            return
        limit = self.ctx.settings.stow_max_instance_bytes
        if part.size > limit:  # the bytes up to the limit stay, to name it in the answer
            part.failure = (res.TOO_LARGE, f"The instance is larger than {limit} bytes.")
            chunk = chunk[: limit - before]
        if part.head is not None and len(part.head) + len(chunk) < len(PART10_HEAD):
            part.head += chunk
            return
        self._write(part, chunk)

    def _write(self, part: _Part, chunk: memoryview | bytes) -> None:
        """Write ``chunk`` after the part's first bytes, once they show its form: a
        Part 10 file that starts with its File Meta Information, without the preamble
        and "DICM" (as pydicom writes by default), is stored with them (PS3.10 7.1)."""
        assert part.staged is not None
        try:
            if part.head is not None:
                head, part.head = bytes(part.head) + bytes(chunk), None
                meta_first = head[:2] == b"\x02\x00" and head[4:6].isalpha()
                if head[128:132] != b"DICM" and meta_first:
                    part.staged.write(PART10_HEAD)
                chunk = head
            part.staged.write(chunk)
        except OutOfSpace as exc:
            part.staged.discard()
            part.staged = None
            part.failure = (res.OUT_OF_RESOURCES, exc.message)

    def end(self) -> None:
        part, self._part = self._part, None
        assert part is not None
        if part.staged is not None and part.head is not None:  # shorter than a preamble
            self._write(part, b"")
        staged = part.staged
        if part.failure is None:
            assert staged is not None
            self._accept(staged)
            return
        sop_class = sop_instance = ""
        if staged is not None:
            sop_class, sop_instance = _uids_of(staged.tmp_path)
            staged.discard()
        code, reason = part.failure
        self._outcomes.append(Outcome(sop_class, sop_instance, failure=code, reason=reason))

    def _accept(self, staged: StagedFile) -> None:
        """A whole DICOM part: checked, then queued for filing (its fsync started)."""
        staged.end()
        try:
            header = read_file_header(staged.tmp_path)
        except NotDicom as exc:
            sop_class, sop_instance = _uids_of(staged.tmp_path)
            staged.discard()
            code = (
                res.CANNOT_UNDERSTAND
                if exc.message.startswith(("Not a readable", "Unreadable"))
                else res.DOES_NOT_MATCH
            )
            failed = Outcome(sop_class, sop_instance, failure=code, reason=exc.message)
            self._outcomes.append(failed)
            return
        refused = self._refusal(header)
        if refused is not None:
            staged.discard()
            self._outcomes.append(refused)
            return
        source = self._source(header)
        if source is None:
            staged.discard()
            self._outcomes.append(_failed(header, res.NOT_AUTHORIZED, _NOT_YOURS))
            return
        staged.sync_in(_SYNCER)
        incoming = Incoming(staged, source, header, self._placements)
        self._pending.append(_Filed(incoming, source.project))
        if len(self._pending) >= BATCH:
            self._file()

    def _refusal(self, header: Header) -> Outcome | None:
        if header.SOPClassUID == MEDIA_STORAGE_DIRECTORY:
            reason = "A DICOMDIR is a media index, not an instance to store."
            return _failed(header, res.SOP_CLASS_NOT_SUPPORTED, reason)
        study = self.request.study
        if study is not None and header.StudyInstanceUID != study:
            reason = f"The instance is of study {header.StudyInstanceUID}, not of {study}."
            return _failed(header, res.STUDY_MISMATCH, reason)
        return None

    # -- where an instance goes ------------------------------------------------------------

    def _source(self, header: Header) -> Source | None:
        """The root's project; at the site-wide root, the project the instance routes to
        (as a C-STORE instance routes), if the caller may upload to it. None: refused."""
        if self.request.project is not None:
            return self._source_for(self.project)
        routed = route(header).project
        key = routed.lower() if routed else None
        if key not in self._sources:
            self._sources[key] = self._routed_source(routed)
        return self._sources[key]

    def _routed_source(self, routed: str | None) -> Source | None:
        """A project that does not exist and one the caller may not upload to are refused
        alike; a site administrator's instance that routes to none waits unassigned, as a
        C-STORE instance does."""
        label = None
        if routed is not None:
            with self.ctx.db.read() as db:
                found = db.scalar(
                    select(Project)
                    .where(func.lower(Project.label) == routed.lower())
                    .order_by(Project.label != routed)
                    .limit(1)
                )
                if found is not None:
                    try:
                        permissions.require(db, self.actor, Action.UPLOAD, found)
                        label = found.label
                    except ScandepotError:
                        return None
        if label is None and not self.actor.is_site_admin:
            return None
        return self._source_for(label)

    def _source_for(self, project: str | None) -> Source:
        return Source(
            kind="stow",
            address=self.actor.address,
            project=project,
            by=self.actor.login,
        )

    # -- filing ----------------------------------------------------------------------------

    def _file(self) -> None:
        batch, self._pending = self._pending, []
        items = [filed.incoming for filed in batch]
        try:
            _file_each(self.ctx, items)
        finally:
            for item in items:
                item.staged.discard()  # the temporary name; the spool name stays
        for filed in batch:
            outcome = self._outcome(filed.incoming)
            self._outcomes.append(outcome)
            if outcome.stored:
                self._counts.files[filed.project] += 1
                received = filed.incoming.result
                if received is not None and not received.duplicate:
                    self._counts.added[filed.project] += 1

    def _outcome(self, item: Incoming) -> Outcome:
        header = item.header
        if item.error is not None or item.result is None:
            exc = item.error
            if isinstance(exc, OutOfSpace):
                return _failed(header, res.OUT_OF_RESOURCES, exc.message)
            if isinstance(exc, ScandepotError):
                return _failed(header, res.PROCESSING_FAILURE, exc.message)
            log.error("could not file STOW instance %s: %r", header.SOPInstanceUID, exc)
            return _failed(header, res.PROCESSING_FAILURE, "The instance could not be filed.")
        received = item.result
        url = ""
        if received.staged_id is None:  # held archived already: retrievable now
            url = (
                f"{self.request.root_url}/studies/{header.StudyInstanceUID}"
                f"/series/{header.SeriesInstanceUID}/instances/{header.SOPInstanceUID}"
            )
        warning, reason = None, ""
        if received.conflict:
            warning = res.KEPT_ASIDE
            reason = (
                "An instance with this SOP Instance UID and other bytes is held already; "
                "this copy was kept beside it, for review before archiving."
            )
        return Outcome(
            header.SOPClassUID,
            header.SOPInstanceUID,
            study=header.StudyInstanceUID,
            warning=warning,
            reason=reason,
            url=url,
        )

    def _audit(self) -> None:
        for project, files in self._counts.files.items():
            audit.record_now(
                self.ctx,
                self.actor,
                AuditAction.UPLOAD_IMPORTED,
                project=project,
                via="stow",
                files=files,
                added=self._counts.added[project],
            )


_NOT_YOURS = (
    "This instance routes to no project you may upload to (by Study Description "
    "xnat://project, or Project: in Patient or Study Comments). Store it under "
    "/dicomweb/projects/{project}/studies instead."
)


def _failed(header: Header, code: int, reason: str) -> Outcome:
    return Outcome(
        header.SOPClassUID,
        header.SOPInstanceUID,
        study=header.StudyInstanceUID,
        failure=code,
        reason=reason,
    )


def dumps(body: dict[str, Any]) -> bytes:
    """The answer's bytes (DICOM JSON is plain JSON)."""
    return json.dumps(body, separators=(",", ":")).encode("utf-8")


def _file_each(ctx: Context, items: list[Incoming]) -> None:
    """File a batch in one transaction; when the batch fails as a whole (its commit, an
    fsync, a deadlock), each instance on its own, so that one costs only itself."""
    try:
        file_batch(ctx, items)
        return
    except Exception as exc:  # noqa: BLE001 - told per instance below
        if len(items) == 1:
            items[0].result, items[0].error = None, exc
            return
        log.warning("a STOW batch of %d instances failed (%s); filing one by one", len(items), exc)
    for item in items:
        item.result, item.error = None, None
        try:
            file_batch(ctx, [item])
        except Exception as exc:  # noqa: BLE001 - told in the answer
            item.result, item.error = None, exc


def _uids_of(path: Path) -> tuple[str, str]:
    """The SOP Class and Instance UIDs of a part that failed, where it gives them (and
    they are UIDs): the answer names the instance it could not store."""
    try:
        ds = dcmread(path, stop_before_pixels=True, specific_tags=["SOPClassUID", "SOPInstanceUID"])
        found = (str(ds.get("SOPClassUID", "")), str(ds.get("SOPInstanceUID", "")))
    except Exception:  # noqa: BLE001 - anything unreadable names nothing
        return "", ""
    return tuple(u if uids.is_valid(u) else "" for u in map(uids.unpad, found))  # type: ignore[return-value]
