"""Sending to a DICOM peer: C-STORE to store, C-FIND to ask what it holds, C-ECHO to check.

One association per batch, proposing one presentation context per SOP class of the batch
with the transfer syntaxes its instances are in (an instance is sent as it is, never
converted). Each instance gets the status of its C-STORE response: success and every
warning (0x0001, 0x0107, 0x0116, 0xBxxx: PS3.4 B.2.3 and PS3.7 C) stored; a failure is
the peer's status in words, temporary when it says it is out of resources (0xA7xx). An
association refused, aborted or never made is
:class:`~scandepot.push.sending.Unreachable`, with the peer's reason; one where the peer
accepted none of the batch's presentation contexts fails the batch's instances for good
(their SOP class or transfer syntax is one it does not take, and trying again will not
change that).

What the far side holds is a C-FIND at IMAGE level of the Study Root model for the
study's SOP Instance UIDs.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from io import BytesIO
from typing import Any

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pynetdicom import AE, evt
from pynetdicom.association import Association
from pynetdicom.pdu import A_ABORT_RQ
from pynetdicom.presentation import PresentationContext, build_context
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    StudyRootQueryRetrieveInformationModelFind,
    Verification,
)

from scandepot.push.sending import Held, Outgoing, Sent, Unreachable

MAX_CONTEXTS = 128  # PS3.8: presentation context IDs are odd numbers 1..255
WARNINGS = frozenset({0x0001, 0x0107, 0x0116})  # and the 0xBxxx range


def stored(status: int) -> bool:
    """Whether a C-STORE response status says the peer kept the instance."""
    return status == 0x0000 or status in WARNINGS or 0xB000 <= status <= 0xBFFF


class NoContext(Unreachable):
    """The peer accepted none of the presentation contexts proposed."""


# PS3.4 B.2.3 and PS3.7 C: what a failure status means.
STATUS_NAMES = {
    0x0117: "invalid SOP instance",
    0x0122: "SOP class not supported",
    0x0124: "not authorized",
    0x0210: "duplicate invocation",
    0x0211: "unrecognised operation",
    0x0212: "mistyped argument",
}


@dataclass(frozen=True, slots=True)
class DimsePeer:
    ae_title: str
    host: str
    port: int
    calling_ae: str
    timeout_s: float = 60


def status_text(status: int) -> str:
    name = STATUS_NAMES.get(status)
    if name is None and 0xA700 <= status <= 0xA7FF:
        name = "out of resources"
    elif name is None and 0xA900 <= status <= 0xA9FF:
        name = "data set does not match SOP class"
    elif name is None and 0xC000 <= status <= 0xCFFF:
        name = "cannot understand"
    return f"C-STORE status 0x{status:04X}" + (f" ({name})" if name else "")


def contexts_for(batch: Sequence[Outgoing]) -> list[PresentationContext]:
    """One context per SOP class, with every transfer syntax the batch has of it."""
    syntaxes: dict[str, list[str]] = {}
    for instance in batch:
        wanted = syntaxes.setdefault(instance.sop_class_uid, [])
        if instance.transfer_syntax not in wanted:
            wanted.append(instance.transfer_syntax)
    if len(syntaxes) > MAX_CONTEXTS:
        raise ValueError(f"A batch may hold at most {MAX_CONTEXTS} SOP classes.")
    return [build_context(sop, ts) for sop, ts in syntaxes.items()]


# The reasons of an A-ABORT PDU from the service provider (PS3.8 Table 9-26).
_PROVIDER_REASONS = {
    0: "reason not specified",
    1: "unrecognized PDU",
    2: "unexpected PDU",
    4: "unrecognized PDU parameter",
    5: "unexpected PDU parameter",
    6: "invalid PDU parameter value",
}


class DimseSender:
    """A :class:`~scandepot.push.sending.Sender` to a DICOM C-STORE peer; thread-safe
    (each batch on an association of its own)."""

    def __init__(self, peer: DimsePeer) -> None:
        self.peer = peer

    def _ae(self) -> AE:
        ae = AE(ae_title=self.peer.calling_ae)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = self.peer.timeout_s
        ae.connection_timeout = self.peer.timeout_s
        return ae

    def _associate(self, contexts: list[PresentationContext]) -> Association:
        answers: list[Any] = []

        def heard(event: evt.Event) -> None:
            answers.append(getattr(event, "primitive", None))

        aborts: list[A_ABORT_RQ] = []  # the A-ABORT PDUs the peer sent

        def aborted(event: evt.Event) -> None:
            if isinstance(event.pdu, A_ABORT_RQ):
                aborts.append(event.pdu)

        # Reached first by a plain connection: a refusal is told in the system's words,
        # and pynetdicom 3.0 leaves the socket of a refused connection open.
        where = f"{self.peer.ae_title}@{self.peer.host}:{self.peer.port}"
        try:
            with socket.create_connection((self.peer.host, self.peer.port), timeout=5):
                pass
        except OSError as exc:
            raise Unreachable(f"{where}: {exc.strerror or exc}") from None
        began = time.monotonic()
        assoc = self._ae().associate(
            self.peer.host,
            self.peer.port,
            contexts=contexts,
            ae_title=self.peer.ae_title,
            evt_handlers=[(evt.EVT_ACSE_RECV, heard), (evt.EVT_PDU_RECV, aborted)],
        )
        if assoc.is_established:
            return assoc
        why = self._why_not(assoc, answers, aborts, time.monotonic() - began)
        # The peer answered A-ASSOCIATE-AC (result 0) but took none of the contexts.
        if any(getattr(a, "result", None) == 0 for a in answers) and not assoc.accepted_contexts:
            raise NoContext(why)
        raise Unreachable(why)

    def _why_not(
        self, assoc: Association, answers: list[Any], aborts: list[A_ABORT_RQ], took: float
    ) -> str:
        where = f"{self.peer.ae_title}@{self.peer.host}:{self.peer.port}"
        if assoc.is_rejected:
            rejection = next((a for a in answers if hasattr(a, "reason_str")), None)
            if rejection is not None:
                return (
                    f"{where} rejected the association: {rejection.result_str}, "
                    f"{rejection.source_str}: {rejection.reason_str}"
                )
            return f"{where} rejected the association"
        if any(getattr(a, "result", None) == 0 for a in answers):  # A-ASSOCIATE-AC heard
            return f"{where} accepted none of the presentation contexts proposed"
        # An A-ABORT PDU (PS3.8 9.3.8) by its source; pynetdicom also tells of a closed
        # connection as an abort by the provider, so the PDU itself is what counts.
        if aborts and aborts[0].source != 2:
            return f"{where} aborted the association (its service user)"
        if aborts:
            code = aborts[0].reason_diagnostic or 0
            reason = _PROVIDER_REASONS.get(code, "reason not specified")
            return f"{where} aborted the association (its service provider: {reason})"
        if took >= self.peer.timeout_s:
            return (
                f"{where} did not answer the association request within {self.peer.timeout_s:g} s"
            )
        return f"{where} closed the connection without answering the association request"

    def check(self) -> None:
        assoc = self._associate([build_context(Verification)])
        try:
            status = assoc.send_c_echo()
        finally:
            assoc.release()
        if "Status" not in status or status.Status != 0x0000:
            raise Unreachable(f"C-ECHO to {self.peer.ae_title} got no success status.")

    def send(self, batch: Sequence[Outgoing]) -> list[Sent]:
        if not batch:
            return []
        try:
            assoc = self._associate(contexts_for(batch))
        except NoContext as exc:
            return [Sent(i.sop_uid, False, False, exc.reason) for i in batch]
        try:
            return [self._store(assoc, instance) for instance in batch]
        finally:
            if assoc.is_established:
                assoc.release()

    def _store(self, assoc: Association, instance: Outgoing) -> Sent:
        uid = instance.sop_uid
        if not assoc.is_established:
            return Sent(uid, False, True, "the association ended before this instance")
        try:
            ds = dcmread(BytesIO(instance.data))
        except (InvalidDicomError, ValueError, EOFError) as exc:
            return Sent(uid, False, False, f"not a DICOM instance: {exc}")
        try:
            answer = assoc.send_c_store(ds)
        except ValueError as exc:  # no accepted context for its SOP class or syntax
            return Sent(uid, False, False, f"the peer did not accept its context: {exc}")
        if "Status" not in answer:
            return Sent(uid, False, True, "no C-STORE response (aborted or timed out)")
        status = int(answer.Status)
        if stored(status):
            return Sent(uid, True)
        reason = status_text(status)
        comment = answer.get("ErrorComment")
        if comment:
            reason = f"{reason}: {comment}"
        return Sent(uid, False, 0xA700 <= status <= 0xA7FF, reason)

    def held(self, study_uids: Sequence[str], *, subject: str, session: str) -> list[Held]:
        if not study_uids:
            return []
        model = StudyRootQueryRetrieveInformationModelFind
        assoc = self._associate([build_context(model)])
        try:
            return [Held(uid, frozenset(self._find(assoc, uid))) for uid in study_uids]
        finally:
            if assoc.is_established:
                assoc.release()

    def _find(self, assoc: Association, study_uid: str) -> set[str]:
        query = Dataset()
        query.QueryRetrieveLevel = "IMAGE"
        query.StudyInstanceUID = study_uid
        query.SeriesInstanceUID = ""
        query.SOPInstanceUID = ""
        found: set[str] = set()
        for status, identifier in assoc.send_c_find(
            query, StudyRootQueryRetrieveInformationModelFind
        ):
            code = int(status.Status) if "Status" in status else None
            if code is None:
                raise Unreachable(
                    f"C-FIND to {self.peer.ae_title}: the peer ended the association without "
                    f"an answer (does it take C-FIND from calling AE {self.peer.calling_ae}?)"
                )
            if code in (0xFF00, 0xFF01) and identifier is not None:
                uid = identifier.get("SOPInstanceUID")
                if uid:
                    found.add(str(uid))
            elif code not in (0x0000, 0xFF00, 0xFF01):
                raise Unreachable(f"C-FIND to {self.peer.ae_title}: status 0x{code:04X}")
        return found

    def close(self) -> None:
        pass
