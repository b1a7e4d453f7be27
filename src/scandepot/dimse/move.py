"""C-MOVE SCP (PS3.4 C.4.2): each instance the identifier names sent by a C-STORE
sub-operation over an association of our own with the move destination, a DICOM node a
site administrator set up (its AE title, host and port); an unknown destination is
refused with 0xA801. pynetdicom is the storage SCU towards it; each instance is proposed
in its stored transfer syntax and the uncompressed ones, and sent as stored where the
destination takes that. Counts and final status as for C-GET (get.py).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from pydicom import Dataset, dcmread
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE
from pynetdicom.association import Association

from scandepot.dicomnodes import nodes
from scandepot.dimse.get import Tally, matched
from scandepot.dimse.qr import (
    PENDING,
    UNKNOWN_DESTINATION,
    QueryRetrieve,
    Request,
    Steps,
    Wait,
)
from scandepot.retrieve.instances import Located

log = logging.getLogger("scandepot.dicom")

MAX_CONTEXTS = 128  # presentation contexts in one association, PS3.8 §9.3.2.2


def run(qr: QueryRetrieve, request: Request) -> Steps:
    destination = nodes.destination(qr.ctx, request.move_destination)
    if destination is None:
        comment = f"move destination {request.move_destination or '(none)'} unknown"
        qr.respond(request, UNKNOWN_DESTINATION, comment=comment)
        return
    items = matched(qr, request)
    if items is None:
        return
    tally = Tally(len(items))
    if items:
        with _association(qr.ae_title, destination, items) as assoc:
            for item in items:
                if qr.cancelled:
                    break
                status = _store(assoc, item, (qr.calling_ae, request.message_id))
                tally.add(item.sop_instance, status)
                if tally.remaining:
                    qr.respond(request, PENDING, counts=tally.counts())
                    yield Wait.READY
    tally.final(request, qr, qr.cancelled and tally.remaining > 0)


@contextmanager
def _association(
    ae_title: str, destination: nodes.Destination, items: list[Located]
) -> Iterator[Association | None]:
    """An association with the destination proposing what ``items`` need; None when it
    cannot be had (every sub-operation then fails)."""
    ae = AE(ae_title=ae_title)
    syntaxes: dict[str, list[str]] = {}
    for item in items:
        offered = syntaxes.setdefault(item.sop_class, [])
        if item.transfer_syntax not in offered:
            offered.append(item.transfer_syntax)
    for sop_class, offered in list(syntaxes.items())[:MAX_CONTEXTS]:
        for fallback in (ExplicitVRLittleEndian, ImplicitVRLittleEndian):
            if fallback not in offered:
                offered.append(fallback)
        ae.add_requested_context(sop_class, offered)
    assoc = ae.associate(destination.host, destination.port, ae_title=destination.ae_title)
    if not assoc.is_established:
        log.warning("cannot associate with move destination %s", destination.ae_title)
        ae.shutdown()
        yield None
        return
    try:
        yield assoc
    finally:
        if assoc.is_established:
            assoc.release()
        ae.shutdown()


def _store(assoc: Association | None, item: Located, originator: tuple[str, int]) -> int | None:
    """One sub-operation: the destination's C-STORE status; None when it was not sent."""
    if assoc is None or not assoc.is_established:
        return None
    try:
        ds = dcmread(item.path)
        if not _accepted(assoc, item) and ds.file_meta.TransferSyntaxUID.is_compressed:
            ds.decompress()
        answer: Dataset = assoc.send_c_store(
            ds, originator_aet=originator[0], originator_id=originator[1]
        )
    except Exception as exc:  # unreadable, no codec, no context: a failed sub-operation
        log.warning("C-MOVE of %s failed: %s", item.sop_instance, exc)
        return None
    return int(answer.Status) if "Status" in answer else None


def _accepted(assoc: Association, item: Located) -> bool:
    return any(
        cx.abstract_syntax == item.sop_class and cx.transfer_syntax[0] == item.transfer_syntax
        for cx in assoc.accepted_contexts
    )
