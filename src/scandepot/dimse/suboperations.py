"""What C-GET and C-MOVE share: the instances a request names, and the count of their
sub-operations with the final status it makes (PS3.4 C.4.2.1.5, C.4.3.1.4).

Final status: success when every sub-operation succeeded; warning 0xB000 when some failed
or gave warnings, with the Failed SOP Instance UID List; 0xA702 when every one failed;
Cancel 0xFE00 when a C-CANCEL stopped it, with what remained.
"""

from __future__ import annotations

import logging

from pydicom import Dataset

from scandepot.dimse import resolve
from scandepot.dimse.messages import Counts
from scandepot.dimse.qr import (
    CANCELLED,
    SUB_OPERATIONS_FAILED,
    SUCCESS,
    UNABLE_TO_PERFORM,
    UNABLE_TO_PROCESS,
    QueryRetrieve,
    Request,
    failure_status,
)
from scandepot.errors import ScandepotError
from scandepot.retrieve.instances import Located

log = logging.getLogger("scandepot.dicom")


class Tally:
    """The sub-operations of one C-GET or C-MOVE, as they go."""

    def __init__(self, total: int) -> None:
        self.remaining = total
        self.completed = self.failed = self.warning = 0
        self.failed_uids: list[str] = []

    def add(self, sop_instance: str, status: int | None) -> None:
        """One sub-operation done: its C-STORE status, None when it could not be sent."""
        self.remaining -= 1
        if status == SUCCESS:
            self.completed += 1
        elif status is not None and status & 0xF000 == 0xB000:  # warnings, PS3.4 B.2.3
            self.warning += 1
        else:
            self.failed += 1
            self.failed_uids.append(sop_instance)

    def counts(self) -> Counts:
        """The counts of a pending response."""
        return Counts(self.remaining, self.completed, self.failed, self.warning)

    def final(self, request: Request, qr: QueryRetrieve, cancelled: bool) -> None:
        """The last response: its status, counts and failed instances."""
        if cancelled:
            status = CANCELLED
        elif not self.failed and not self.warning:
            status = SUCCESS
        elif not self.completed and not self.warning:
            status = UNABLE_TO_PERFORM
        else:
            status = SUB_OPERATIONS_FAILED
        identifier = None
        if self.failed_uids:
            identifier = Dataset()
            identifier.FailedSOPInstanceUIDList = self.failed_uids
        remaining = self.remaining if cancelled else None
        counts = Counts(remaining, self.completed, self.failed, self.warning)
        qr.respond(request, status, identifier=identifier, counts=counts)
        log.info(
            "%s from %s at %s level%s: %d sent, %d failed, %d warning(s), status %#06x",
            request.model.operation.value,
            qr.calling_ae,
            request.level.value,
            f" to {request.move_destination}" if request.move_destination else "",
            self.completed,
            self.failed,
            self.warning,
            status,
        )


def matched(qr: QueryRetrieve, request: Request) -> list[Located] | None:
    """The instances to send; None when the request was answered with a failure."""
    try:
        return resolve.instances(qr.ctx, qr.scope, request.identifier, request.level)
    except ScandepotError as exc:
        qr.respond(request, failure_status(exc), comment=exc.message)
    except Exception:
        log.exception("%s from %s failed", request.model.operation, qr.calling_ae)
        qr.respond(request, UNABLE_TO_PROCESS, comment="the retrieval failed")
    return None
