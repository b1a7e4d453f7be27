"""C-GET SCP (PS3.4 C.4.3): each instance the identifier names sent by a C-STORE
sub-operation on the same association, on a storage context for which the peer took the
SCP role; a pending response with the counts after each, then the final status
(suboperations.py).
"""

from __future__ import annotations

from scandepot.dimse import messages
from scandepot.dimse.qr import PENDING, QueryRetrieve, Request, Steps, Wait
from scandepot.dimse.sending import choose, open_data_set
from scandepot.dimse.suboperations import Tally, matched


def run(qr: QueryRetrieve, request: Request) -> Steps:
    items = matched(qr, request)
    if items is None:
        return
    tally = Tally(len(items))
    for item in items:
        if qr.cancelled:
            break
        status = None
        chosen = choose(qr.contexts, qr.scp_roles, item)
        data = open_data_set(item, chosen[1]) if chosen is not None else None
        if chosen is not None and data is not None:
            with data:
                message_id = qr.next_message_id()
                command = messages.c_store_rq(message_id, item.sop_class, item.sop_instance)
                qr.reply = None
                messages.send_message(qr.send, chosen[0], command, data, qr.peer_max_pdu)
            yield Wait.REPLY
            status = qr.reply
        tally.add(item.sop_instance, status)
        if tally.remaining:
            qr.respond(request, PENDING, counts=tally.counts())
            yield Wait.READY
    tally.final(request, qr, qr.cancelled and tally.remaining > 0)
