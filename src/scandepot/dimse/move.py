"""C-MOVE SCP (PS3.4 C.4.2): each instance the identifier names sent by a C-STORE
sub-operation over an association of our own with the move destination, a DICOM node a
site administrator set up (its AE title, host and port); an unknown destination is
refused with 0xA801. Each SOP class and stored transfer syntax is proposed with the
uncompressed syntaxes after it; an instance goes as stored where the destination takes
its syntax, otherwise converted (sending.py). Counts and final status as for C-GET.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from scandepot.dicomnodes import nodes
from scandepot.dimse.qr import (
    PENDING,
    UNKNOWN_DESTINATION,
    QueryRetrieve,
    Request,
    Steps,
    Wait,
)
from scandepot.dimse.scu import Refused, StoreAssociation
from scandepot.dimse.suboperations import Tally, matched
from scandepot.retrieve.instances import Located

log = logging.getLogger("scandepot.dicom")

MAX_PDU = 262_144  # the largest PDU we take from the destination (its responses are small)


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
        with _association(qr, destination, items) as assoc:
            for number, item in enumerate(items):
                if qr.cancelled:
                    break
                status = None
                if assoc is not None:
                    originator = (qr.calling_ae, request.message_id)
                    status = assoc.store(item, number % 0xFFFF + 1, originator)
                tally.add(item.sop_instance, status)
                if tally.remaining:
                    qr.respond(request, PENDING, counts=tally.counts())
                    yield Wait.READY
    tally.final(request, qr, qr.cancelled and tally.remaining > 0)


def proposals(items: list[Located]) -> list[tuple[str, list[str]]]:
    """A context for each SOP class and stored transfer syntax, the uncompressed
    syntaxes after the stored one."""
    found: dict[tuple[str, str], list[str]] = {}
    for item in items:
        key = (item.sop_class, item.transfer_syntax)
        if key not in found:
            fallbacks = [ExplicitVRLittleEndian, ImplicitVRLittleEndian]
            found[key] = [item.transfer_syntax, *(s for s in fallbacks if s != key[1])]
    return [(sop_class, syntaxes) for (sop_class, _), syntaxes in found.items()]


@contextmanager
def _association(
    qr: QueryRetrieve, destination: nodes.Destination, items: list[Located]
) -> Iterator[StoreAssociation | None]:
    """The association with the destination; None when it cannot be had (every
    sub-operation then fails)."""
    address = (destination.host, destination.port)
    try:
        assoc = StoreAssociation.open(
            qr.ae_title, destination.ae_title, address, proposals(items), MAX_PDU, qr.timeout_s
        )
    except Refused as exc:
        log.warning("C-MOVE from %s: %s", qr.calling_ae, exc)
        yield None
        return
    try:
        yield assoc
    except BaseException:
        assoc.abort()
        raise
    else:
        assoc.release()
