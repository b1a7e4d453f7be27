"""Our C-STORE handler: each instance streamed to a staged file, then filed.

The staged file starts with the File Meta Information (PS3.10 §7.1) made from the
C-STORE-RQ, and the data set's fragments are appended as they arrive; the data set is
never decoded, its header is read from its first bytes. The instance is filed through
ingest (durable on disk and in the catalog, several associations sharing one catalog
transaction) before the status is given, so that a success is never lost.
"""

from __future__ import annotations

import logging

from scandepot.context import Context
from scandepot.dicom.headers import read_header, read_header_bytes
from scandepot.dimse import commands
from scandepot.dimse.acse import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION
from scandepot.dimse.service import CANNOT_UNDERSTAND, OUT_OF_RESOURCES, SUCCESS
from scandepot.errors import OutOfSpace, ScandepotError, Unavailable
from scandepot.ingest.group import GroupCommit
from scandepot.ingest.receive import Incoming, Placements, Source
from scandepot.storage.store import StagedFile

log = logging.getLogger("scandepot.dicom")

HEAD_BYTES = 65536  # enough for the header of nearly every instance


class PrearchiveStore:
    """Files one association's instances into the prearchive (a StoreHandler)."""

    def __init__(self, ctx: Context, group: GroupCommit, source: Source) -> None:
        self.ctx = ctx
        self.group = group
        self.source = source
        self.placements = Placements()  # this sender's projects and staged sessions
        self._staged: StagedFile | None = None
        self._failed: int | None = None  # the status, once writing the instance failed
        self._syntax = ""
        self._head = bytearray()  # the data set's first bytes, to read its header from memory
        self._next: StagedFile | None = None  # the next instance's temporary file
        self._joined = True
        group.join()

    def begin(self, sop_class: str, sop_instance: str, transfer_syntax: str) -> None:
        self._discard()  # an instance the sender never finished
        self._syntax = transfer_syntax
        preamble = commands.file_meta(
            sop_class,
            sop_instance,
            transfer_syntax,
            IMPLEMENTATION_CLASS_UID,
            IMPLEMENTATION_VERSION,
            self.source.calling_ae or "UNKNOWN",
        )
        try:
            staged, self._next = self._next or self.ctx.store.stage(hashed=False), None
            self._staged = staged
            staged.write(preamble)
        except OSError as exc:
            log.error("cannot stage incoming instance: %s", exc)
            self._failed = OUT_OF_RESOURCES

    def chunk(self, data: memoryview) -> None:
        head = self._head
        if len(head) < HEAD_BYTES:
            head += data[: HEAD_BYTES - len(head)]
        if self._staged is not None and self._failed is None:
            try:
                self._staged.write(data)
            except OSError as exc:
                log.error("cannot write incoming instance: %s", exc)
                self._failed = OUT_OF_RESOURCES

    def end(self) -> int:
        staged = self._staged
        if self._failed is not None:
            return self._failed
        if staged is None:
            return OUT_OF_RESOURCES
        try:
            staged.end()
            self.group.start_sync(staged)  # runs while the header is read and filed
            header = read_header_bytes(bytes(self._head), self._syntax) or read_header(
                staged.tmp_path
            )
            self.group.file(Incoming(staged, self.source, header, self.placements))
        except (OutOfSpace, Unavailable) as exc:  # the server's condition: try again later
            log.error("could not file an instance from %s: %s", self.source.calling_ae, exc)
            return OUT_OF_RESOURCES
        except ScandepotError as exc:  # NotDicom, or a refusal: sending again cannot help
            log.warning("refused an instance from %s: %s", self.source.calling_ae, exc.message)
            return CANNOT_UNDERSTAND
        except Exception:
            log.exception("could not file an instance from %s", self.source.calling_ae)
            return OUT_OF_RESOURCES
        return SUCCESS

    def tidy(self) -> None:
        self._discard()  # the temporary name; a spool name stays
        self._prepare_next()

    def close(self) -> None:
        self._discard()
        if self._next is not None:  # nothing of ours left in tmp/ once released
            self._next.discard()
            self._next = None
        if self._joined:
            self._joined = False
            self.group.leave()

    def _discard(self) -> None:
        self._head.clear()
        self._failed = None
        if self._staged is not None:
            self._staged.discard()
            self._staged = None

    def _prepare_next(self) -> None:
        """Create the next instance's temporary file now, not on its critical path."""
        try:
            self._next = self.ctx.store.stage(hashed=False)
        except OSError:
            self._next = None
