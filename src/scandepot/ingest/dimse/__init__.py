"""The DICOM receiver: a C-STORE and C-ECHO service class provider (PS3.4 B, A.4).

Association negotiation (A-ASSOCIATE-RQ/AC/RJ, presentation contexts, user information)
uses pynetdicom's PDU and negotiation code. The data phase is a lean loop of our own, one
thread per association: blocking reads with TCP_NODELAY, P-DATA fragments (PS3.8 §9.3.5)
streamed straight into a staged file that already holds the File Meta Information, the
instance filed through ingest.receive (durable on disk and in the catalog), and only then
the C-STORE response. No decode of the data set, no queues, no polling.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from pydicom.uid import ImplicitVRLittleEndian
from pynetdicom import __version__ as pynetdicom_version
from pynetdicom.pdu import A_ABORT_RQ, A_ASSOCIATE_AC, A_ASSOCIATE_RJ, A_ASSOCIATE_RQ
from pynetdicom.pdu_primitives import (
    A_ASSOCIATE,
    ImplementationClassUIDNotification,
    ImplementationVersionNameNotification,
    MaximumLengthNotification,
)
from pynetdicom.presentation import PresentationContext

from scandepot import __version__
from scandepot.context import Context
from scandepot.dicom.headers import read_header, read_header_bytes
from scandepot.errors import ScandepotError
from scandepot.ingest import commands
from scandepot.ingest.group import GroupCommit
from scandepot.ingest.receive import Incoming, Placements, Source
from scandepot.settings import Settings
from scandepot.storage.store import StagedFile

log = logging.getLogger("scandepot.dicom")

IMPLEMENTATION_CLASS_UID = "1.2.826.0.1.3680043.8.498.10207.1"  # under pydicom's root
IMPLEMENTATION_VERSION = f"SCANDEPOT_{__version__}"[:16]
APPLICATION_CONTEXT = "1.2.840.10008.3.1.1.1"
HEAD_BYTES = 65536  # enough for the header of nearly every instance

# C-STORE statuses, PS3.4 Annex B.2.3
SUCCESS = 0x0000
OUT_OF_RESOURCES = 0xA700
CANNOT_UNDERSTAND = 0xC000

C_STORE_RQ, C_STORE_RSP = 0x0001, 0x8001
C_ECHO_RQ, C_ECHO_RSP = 0x0030, 0x8030

# Query/retrieve and other services are not offered: their abstract syntaxes are refused.
_NOT_STORAGE_PREFIXES = (
    "1.2.840.10008.5.1.4.1.2.",  # Query/Retrieve information models
    "1.2.840.10008.5.1.4.31",  # Modality Worklist
    "1.2.840.10008.3.1.2.",  # Study component management, detached management
    "1.2.840.10008.5.1.1.",  # Print management
)


class Abort(Exception):
    """End the association with an A-ABORT."""


@dataclass
class DimseSettings:
    ae_title: str
    host: str
    port: int
    allowed_calling: frozenset[str] = frozenset()
    ae_projects: dict[str, str] = field(default_factory=dict)
    max_pdu: int = 262_144
    max_associations: int = 16
    timeout_s: float = 60.0
    processes: int = 1  # receiving processes on the port, this one included
    reuse_port: bool = False

    @classmethod
    def from_context(cls, ctx: Context) -> DimseSettings:
        s = ctx.settings
        return cls(
            ae_title=s.ae_title,
            host=s.dicom_host,
            port=s.dicom_port,
            allowed_calling=frozenset(a.strip() for a in s.dicom_allowed_aes),
            ae_projects=dict(s.ae_projects),
            max_pdu=s.dicom_max_pdu,
            max_associations=s.dicom_max_associations,
            timeout_s=s.dicom_timeout_s,
            processes=s.dicom_processes,
        )

    @property
    def called_titles(self) -> set[str]:
        return {self.ae_title.strip(), *(k.strip() for k in self.ae_projects)}


_PDU_HEAD = struct.Struct(">BBI")
_PDV_LENGTH = struct.Struct(">I")


def _pdu(pdu_type: int, body: bytes) -> bytes:
    return struct.pack(">BBI", pdu_type, 0, len(body)) + body


def _p_data_command(context_id: int, command: bytes) -> bytes:
    pdv = struct.pack(">IBB", len(command) + 2, context_id, 0x03) + command
    return _pdu(0x04, pdv)


class Association:
    """One association, served on the calling thread until released or aborted."""

    def __init__(
        self,
        ctx: Context,
        settings: DimseSettings,
        sock: socket.socket,
        address: str,
        admit: Callable[[], bool],
        group: GroupCommit,
    ) -> None:
        self.ctx = ctx
        self.settings = settings
        self.sock = sock
        self.address = address
        self.admit = admit
        self.contexts: dict[int, tuple[str, str]] = {}  # id -> (abstract, transfer syntax)
        self.calling_ae = ""
        self.called_ae = ""
        self.stored = 0
        self.group = group
        self.placements = Placements()  # this sender's projects and staging sessions
        self._head = bytearray(6)
        self._head_view = memoryview(self._head)
        self._body = bytearray(settings.max_pdu or 65536)
        self._next: StagedFile | None = None  # the next instance's temporary file

    # -- reading -------------------------------------------------------------------------
    def _read_into(self, view: memoryview) -> None:
        got, n = 0, len(view)
        while got < n:
            chunk = self.sock.recv_into(view[got:], n - got)
            if chunk == 0:
                raise ConnectionError("peer closed the connection")
            got += chunk

    def _read_pdu(self) -> tuple[int, memoryview]:
        """The next PDU's type and body, in a buffer reused for the next PDU."""
        self._read_into(self._head_view)
        pdu_type, _, length = _PDU_HEAD.unpack(self._head)
        limit = self.settings.max_pdu
        if pdu_type == 0x04 and limit and length > limit + 6:
            raise Abort(f"P-DATA-TF of {length} bytes exceeds the maximum of {limit}")
        if pdu_type != 0x04 and length > 1 << 20:
            raise Abort(f"PDU of type {pdu_type:#x} with an implausible length {length}")
        if length > len(self._body):
            self._body = bytearray(length)
        body = memoryview(self._body)[:length]
        self._read_into(body)
        return pdu_type, body

    # -- association establishment ------------------------------------------------------
    def _reject(self, result: int, source: int, reason: int) -> None:
        primitive = A_ASSOCIATE()
        primitive.result = result
        primitive.result_source = source
        primitive.diagnostic = reason
        rj = A_ASSOCIATE_RJ()
        rj.from_primitive(primitive)
        self.sock.sendall(rj.encode())

    def _negotiate(self, raw: bytes) -> bool:
        rq = A_ASSOCIATE_RQ()
        rq.decode(raw)
        request = rq.to_primitive()
        self.calling_ae = str(request.calling_ae_title).strip()
        self.called_ae = str(request.called_ae_title).strip()
        if request.application_context_name != APPLICATION_CONTEXT:
            self._reject(0x01, 0x01, 0x02)  # application context name not supported
            return False
        allowed = self.settings.allowed_calling
        if allowed and self.calling_ae not in allowed:
            log.warning("refused calling AE %r from %s", self.calling_ae, self.address)
            self._reject(0x01, 0x01, 0x03)  # calling AE title not recognised
            return False
        if self.called_ae not in self.settings.called_titles:
            log.warning("refused called AE %r from %s", self.called_ae, self.address)
            self._reject(0x01, 0x01, 0x07)  # called AE title not recognised
            return False
        if not self.admit():
            self._reject(0x02, 0x03, 0x02)  # transient: local limit exceeded
            return False

        results: list[PresentationContext] = []
        for proposed in request.presentation_context_definition_list:
            answer = PresentationContext()
            answer.context_id = proposed.context_id
            answer.abstract_syntax = proposed.abstract_syntax
            abstract = str(proposed.abstract_syntax)
            offered = [str(ts) for ts in proposed.transfer_syntax]
            if abstract.startswith(_NOT_STORAGE_PREFIXES) or not offered:
                answer.result = 0x03  # abstract syntax not supported
                answer.transfer_syntax = [offered[0] if offered else ImplicitVRLittleEndian]
            else:
                # Keep the bytes as sent: take the sender's first choice of transfer syntax.
                answer.result = 0x00
                answer.transfer_syntax = [offered[0]]
                self.contexts[int(proposed.context_id or 0)] = (abstract, offered[0])
            results.append(answer)

        max_length = MaximumLengthNotification()
        max_length.maximum_length_received = self.settings.max_pdu
        impl_uid = ImplementationClassUIDNotification()
        impl_uid.implementation_class_uid = IMPLEMENTATION_CLASS_UID
        impl_name = ImplementationVersionNameNotification()
        impl_name.implementation_version_name = IMPLEMENTATION_VERSION
        accept = A_ASSOCIATE()
        accept.application_context_name = APPLICATION_CONTEXT
        accept.calling_ae_title = request.calling_ae_title
        accept.called_ae_title = request.called_ae_title
        accept.result = 0x00
        accept.result_source = 0x01
        accept.presentation_context_definition_results_list = results
        accept.user_information = [max_length, impl_uid, impl_name]
        ac = A_ASSOCIATE_AC()
        ac.from_primitive(accept)
        self.sock.sendall(ac.encode())
        return True

    # -- data phase -----------------------------------------------------------------------
    def run(self) -> None:
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.settimeout(self.settings.timeout_s)
        try:
            pdu_type, body = self._read_pdu()
            if pdu_type != 0x01:
                raise Abort(f"expected A-ASSOCIATE-RQ, got PDU type {pdu_type:#x}")
            if not self._negotiate(bytes(self._head) + bytes(body)):
                return
            self._serve()
        except Abort as exc:
            log.warning("aborting association from %s (%s): %s", self.calling_ae, self.address, exc)
            self._send_abort()
        except (ConnectionError, TimeoutError, OSError) as exc:
            log.info("association from %s (%s) ended: %s", self.calling_ae, self.address, exc)
        except Exception:
            log.exception("association from %s (%s) failed", self.calling_ae, self.address)
            self._send_abort()
        finally:
            self.sock.close()
            log.info(
                "association from %s (%s) closed; %d instance(s) stored",
                self.calling_ae,
                self.address,
                self.stored,
            )

    def _send_abort(self) -> None:
        try:
            pdu = A_ABORT_RQ()
            pdu.source = 0x02
            pdu.reason_diagnostic = 0x00
            self.sock.sendall(pdu.encode())
        except OSError:
            pass

    def _serve(self) -> None:
        command = bytearray()
        message: dict[int, int | str] | None = None
        context_id = 0
        staged: StagedFile | None = None
        store_failed: int | None = None
        head = bytearray()  # the data set's first bytes, to read its header from memory
        source = Source(
            "dicom",
            called_ae=self.called_ae,
            calling_ae=self.calling_ae,
            address=self.address,
            default_project=self.settings.ae_projects.get(self.called_ae),
        )
        try:
            while True:
                pdu_type, view = self._read_pdu()
                if pdu_type == 0x05:  # A-RELEASE-RQ
                    if self._next is not None:  # nothing of ours left in tmp/ once released
                        self._next.discard()
                        self._next = None
                    self.sock.sendall(_pdu(0x06, b"\x00" * 4))
                    return
                if pdu_type == 0x07:  # A-ABORT
                    return
                if pdu_type != 0x04:
                    raise Abort(f"unexpected PDU type {pdu_type:#x}")
                while view:
                    if len(view) < 6:
                        raise Abort("truncated presentation data value item")
                    (item_length,) = _PDV_LENGTH.unpack_from(view)
                    if item_length < 2 or item_length > len(view) - 4:
                        raise Abort("malformed presentation data value item")
                    pc_id, control = view[4], view[5]
                    data = view[6 : 4 + item_length]
                    view = view[4 + item_length :]
                    if control & 0x01:  # command fragment
                        command += data
                        if not control & 0x02:
                            continue
                        try:
                            message = commands.decode_command(bytes(command))
                        except commands.MalformedCommand as exc:
                            raise Abort(str(exc)) from None
                        command.clear()
                        context_id = pc_id
                        field_ = int(message.get(commands.COMMAND_FIELD, 0))
                        if field_ == C_ECHO_RQ:
                            self._respond(context_id, message, C_ECHO_RSP, SUCCESS)
                            message = None
                        elif field_ == C_STORE_RQ:
                            if pc_id not in self.contexts:
                                raise Abort(f"C-STORE on unaccepted context {pc_id}")
                            staged, store_failed = self._begin_store(message, pc_id)
                        else:
                            raise Abort(f"unsupported DIMSE command {field_:#06x}")
                    else:  # data set fragment
                        if message is None or pc_id != context_id:
                            raise Abort("data set fragment without its command")
                        if len(head) < HEAD_BYTES:
                            head += data[: HEAD_BYTES - len(head)]
                        if staged is not None and store_failed is None:
                            try:
                                staged.write(data)
                            except OSError as exc:
                                log.error("cannot write incoming instance: %s", exc)
                                store_failed = OUT_OF_RESOURCES
                        if control & 0x02:  # last fragment: file it, then answer
                            syntax = self.contexts[context_id][1]
                            status = store_failed or self._file(staged, source, head, syntax)
                            self._respond(context_id, message, C_STORE_RSP, status)
                            # Tidying up, while the sender reads its next instance.
                            head.clear()
                            message = None
                            if staged is not None:
                                staged.discard()  # the temporary name; a spool name stays
                            staged = None
                            self._prepare_next()
        finally:
            if staged is not None:
                staged.discard()
            if self._next is not None:
                self._next.discard()
                self._next = None

    def _prepare_next(self) -> None:
        """Create the next instance's temporary file now, not on its critical path."""
        try:
            self._next = self.ctx.store.stage(hashed=False)
        except OSError:
            self._next = None

    def _begin_store(
        self, message: dict[int, int | str], pc_id: int
    ) -> tuple[StagedFile | None, int | None]:
        abstract, syntax = self.contexts[pc_id]
        preamble = commands.file_meta(
            str(message.get(commands.AFFECTED_SOP_CLASS_UID, abstract)),
            str(message.get(commands.AFFECTED_SOP_INSTANCE_UID, "")),
            syntax,
            IMPLEMENTATION_CLASS_UID,
            IMPLEMENTATION_VERSION,
            self.calling_ae or "UNKNOWN",
        )
        try:
            staged, self._next = self._next or self.ctx.store.stage(hashed=False), None
            staged.write(preamble)
        except OSError as exc:
            log.error("cannot stage incoming instance: %s", exc)
            return None, OUT_OF_RESOURCES
        return staged, None

    def _file(self, staged: StagedFile | None, source: Source, head: bytearray, syntax: str) -> int:
        if staged is None:
            return OUT_OF_RESOURCES
        try:
            staged.end()
            self.group.start_sync(staged)  # runs while the header is read and filed
            header = read_header_bytes(bytes(head), syntax) or read_header(staged.tmp_path)
            self.group.file(Incoming(staged, source, header, self.placements))
        except ScandepotError as exc:  # NotDicom, or a refusal: sending again cannot help
            log.warning("refused an instance from %s: %s", self.calling_ae, exc.message)
            return CANNOT_UNDERSTAND
        except Exception:
            log.exception("could not file an instance from %s", self.calling_ae)
            return OUT_OF_RESOURCES
        self.stored += 1
        return SUCCESS

    def _respond(
        self, context_id: int, request: dict[int, int | str], field_: int, status: int
    ) -> None:
        sop_class = request.get(commands.AFFECTED_SOP_CLASS_UID)
        sop_instance = request.get(commands.AFFECTED_SOP_INSTANCE_UID)
        rsp = commands.encode_response(
            field_,
            int(request.get(commands.MESSAGE_ID, 0)),
            status,
            str(sop_class) if sop_class else None,
            str(sop_instance) if sop_instance else None,
        )
        self.sock.sendall(_p_data_command(context_id, rsp))


class Receiver:
    """Accepts associations on the DICOM port, each served by its own thread."""

    def __init__(self, ctx: Context, settings: DimseSettings | None = None) -> None:
        self.ctx = ctx
        self.settings = settings or DimseSettings.from_context(ctx)
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._active = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.group = GroupCommit(ctx)
        self._workers: list[_Worker] = []

    @property
    def port(self) -> int:
        assert self._listener is not None
        return int(self._listener.getsockname()[1])

    def _admit(self) -> bool:
        with self._lock:
            if self._active >= self.settings.max_associations:
                return False
            self._active += 1
            return True

    def _serve_one(self, sock: socket.socket, address: str) -> None:
        admitted = [False]

        def admit() -> bool:
            admitted[0] = self._admit()
            return admitted[0]

        try:
            Association(self.ctx, self.settings, sock, address, admit, self.group).run()
        finally:
            if admitted[0]:
                with self._lock:
                    self._active -= 1

    def start(self) -> Receiver:
        settings = self.settings
        reuse = settings.reuse_port or settings.processes > 1
        listener = socket.create_server((settings.host, settings.port), reuse_port=reuse)
        listener.settimeout(0.5)
        self._listener = listener
        self._thread = threading.Thread(target=self._accept_loop, name="dicom-accept", daemon=True)
        self._thread.start()
        for _ in range(settings.processes - 1):
            self._workers.append(_Worker.start(self.ctx, settings, self.port))
        log.info(
            "DICOM receiver %s listening on %s:%d in %d process(es) (pynetdicom %s for "
            "negotiation)",
            settings.ae_title,
            settings.host,
            self.port,
            settings.processes,
            pynetdicom_version,
        )
        return self

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                sock, peer = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                if self._stopping.is_set():
                    return
                raise
            threading.Thread(
                target=self._serve_one,
                args=(sock, peer[0]),
                name=f"dicom-{peer[0]}:{peer[1]}",
                daemon=True,
            ).start()

    def stop(self) -> None:
        self._stopping.set()
        if self._listener is not None:
            self._listener.close()
        for worker in self._workers:
            worker.stop()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.group.close()


class _Worker:
    """A further receiving process on the same port (SO_REUSEPORT): its own interpreter,
    catalog engine and group commit; no prearchive builder. It ends when told to, or when
    the process that started it is gone (its end of the pipe closes)."""

    def __init__(self, process: BaseProcess, pipe: Connection) -> None:
        self.process = process
        self.pipe = pipe

    @classmethod
    def start(cls, ctx: Context, settings: DimseSettings, port: int) -> _Worker:
        mp = multiprocessing.get_context("spawn")
        ours, theirs = mp.Pipe()
        child = replace(settings, port=port, processes=1, reuse_port=True)
        process = mp.Process(
            target=_worker_main, args=(ctx.settings, child, theirs), name="dicom-worker"
        )
        process.start()
        theirs.close()
        if not ours.poll(30) or ours.recv() != "listening":
            process.kill()
            raise OSError("a DICOM receiving process did not start")
        return cls(process, ours)

    def stop(self) -> None:
        self.pipe.close()  # the worker sees the end of the pipe and stops
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout=5)


def _worker_main(app_settings: Settings, settings: DimseSettings, pipe: Connection) -> None:
    logging.basicConfig(
        level=app_settings.log_level.upper(), format="%(levelname)s %(name)s: %(message)s"
    )
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's ^C goes to the parent
    ctx = Context.from_settings(app_settings)
    receiver = Receiver(ctx, settings).start()
    pipe.send("listening")
    try:
        pipe.recv()
    except (EOFError, OSError):
        pass
    finally:
        receiver.stop()
        ctx.close()
