"""What every kind of destination does: say what the far side already holds, send
instances, and close.

A push's job (task.py) opens one :class:`Sender` for its destination (:func:`open_sender`
in destinations.py chooses stow.py, dimse.py or xnat.py by the destination's kind), asks
it what the far side holds before sending (a push resumed after a restart sends nothing
twice where the peer can say it has it) and after (the final check), and sends batches of
de-identified instances. A sender may be called from several threads at once, each with
its own batch: it keeps as many connections as it needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from scandepot.errors import ScandepotError


class Unreachable(ScandepotError):
    """The destination cannot be reached now (refused, timed out, 5xx, TLS handshake
    failed): the job tries again later, with back-off. ``reason`` is what the peer or the
    network said."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One de-identified instance on its way out: its UIDs as they leave, its Part 10 bytes,
    and the labels an XNAT destination files it under."""

    study_uid: str
    series_uid: str
    sop_uid: str
    sop_class_uid: str
    transfer_syntax: str
    data: bytes
    subject: str
    session: str


@dataclass(frozen=True, slots=True)
class Sent:
    """How the peer answered for one instance. ``stored`` True: the peer has it. Otherwise
    ``temporary`` says whether trying again later may help (a 503, a timeout) or not (the
    peer refused the instance: a 409, a C-STORE failure status); ``reason`` is the peer's."""

    sop_uid: str
    stored: bool
    temporary: bool = False
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Held:
    """What the far side holds of one study: the SOP Instance UIDs it answers with."""

    study_uid: str
    sop_uids: frozenset[str]


class Sender(Protocol):
    def check(self) -> None:
        """Reach the destination once (a QIDO-RS or C-ECHO, an authenticated GET); raises
        :class:`Unreachable`, or :class:`~scandepot.errors.Invalid` for what trying again
        cannot mend (credentials refused, a certificate that does not verify)."""
        ...

    def held(self, study_uids: Sequence[str], *, subject: str, session: str) -> list[Held]:
        """What the far side holds of these studies (QIDO-RS, C-FIND at IMAGE level, the
        XNAT session's files); a study it does not have is held with no instances."""
        ...

    def send(self, batch: Sequence[Outgoing]) -> list[Sent]:
        """Send ``batch`` (instances of one study), one answer per instance, in order.
        Raises :class:`Unreachable` when nothing of the batch could be sent."""
        ...

    def close(self) -> None: ...
