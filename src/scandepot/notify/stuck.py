"""What is stuck: staged sessions not archived in time, a receiver that does not answer.

Each case is told once: an :class:`Alert` row named after it is added in a savepoint, and
the event goes into the journal in the same transaction (the site administrators hear of
it from there). A second pass, or a second sender, finds the row and adds nothing.

- A staged session still in the prearchive ``notify_stuck_after_min`` after its last
  instance: ``stuck:<staged id>:<last instance time>``, so more instances arriving and
  the session sticking again is a new case.
- With ``echo`` (the process that runs the receiver), at most once a minute a C-ECHO to
  the site's own receiver: no answer raises ``receiver:<host>:<port>`` (the machine's
  name for a receiver bound to every address); an answer clears it, so that a later
  outage is a new case.
"""

from __future__ import annotations

import datetime as dt
import logging
import socket
import threading

from pynetdicom import AE
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as DBSession

from scandepot.catalog import journal
from scandepot.catalog.notify import Alert
from scandepot.catalog.prearchive import StagedSession, Status
from scandepot.context import Context
from scandepot.events import ReceiverSilent, SessionStuck

log = logging.getLogger("scandepot.notify")

ECHO_EVERY = dt.timedelta(minutes=1)
ECHO_TIMEOUT_S = 10.0
_echoed: dict[str, dt.datetime] = {}  # address -> when this process last echoed it
_echo_lock = threading.Lock()


def run(ctx: Context, *, now: dt.datetime, echo: bool = False) -> int:
    """Record each new stuck case in the journal, once; returns how many were found."""
    found = _staged(ctx, now)
    if echo and _echo_due(ctx, now):
        found += _receiver(ctx, now)
    return found


def _staged(ctx: Context, now: dt.datetime) -> int:
    after = dt.timedelta(minutes=ctx.settings.notify_stuck_after_min)
    with ctx.db.read() as db:
        candidates = list(
            db.scalars(
                select(StagedSession)
                .where(StagedSession.last_received_at <= now - after)
                .order_by(StagedSession.id)
            )
        )
        keys = {_key(s): s for s in candidates}
        told = set(db.scalars(select(Alert.key).where(Alert.key.in_(list(keys)))))
    fresh = [s for key, s in keys.items() if key not in told]
    if not fresh:
        return 0
    found = 0
    with ctx.db.write() as db:
        for staged in fresh:
            if _raise(db, _key(staged), now):
                journal.record(db, _stuck(staged, now))
                found += 1
    return found


def _key(staged: StagedSession) -> str:
    return f"stuck:{staged.id}:{staged.last_received_at.isoformat()}"


def _raise(db: DBSession, key: str, now: dt.datetime) -> bool:
    """Add the alert ``key``; False when it was there already (told before, or just now
    by another sender)."""
    try:
        with db.begin_nested():
            db.add(Alert(key=key, raised_at=now))
            db.flush()
    except IntegrityError:
        return False
    return True


def _stuck(staged: StagedSession, now: dt.datetime) -> SessionStuck:
    minutes = int((now - staged.last_received_at).total_seconds() // 60)
    return SessionStuck(
        staged_id=staged.id,
        project=staged.project_key or None,
        StudyInstanceUID=staged.StudyInstanceUID,
        status=staged.status,
        last_received_at=staged.last_received_at.isoformat(),
        minutes=minutes,
        reason=_found(staged),
    )


def _found(staged: StagedSession) -> str:
    """What the staged session shows of why it waits."""
    status = staged.status
    problems = "; ".join(staged.problems)
    if not staged.project_key:
        said = "No project: no routing rule found one; it waits to be moved to a project."
    elif status == Status.RECEIVING:
        said = "Not built yet: is the prearchive builder running?"
    elif status in {Status.BUILDING, Status.ARCHIVING}:
        said = f"Still {status}: a builder may have stopped half-way."
    elif staged.hold:
        said = "Built and held: it waits for someone to archive it."
    elif status == Status.READY:
        said = "Built but not archived: the project archives only on request."
    else:
        said = f"{status}."
    return f"{said} Problems: {problems}" if problems else said


def _echo_due(ctx: Context, now: dt.datetime) -> bool:
    address = _address(ctx)
    with _echo_lock:
        last = _echoed.get(address)
        if last is not None and last <= now < last + ECHO_EVERY:
            return False
        _echoed[address] = now
        return True


WILDCARDS = frozenset({"0.0.0.0", "::", ""})


def _address(ctx: Context) -> str:
    """The receiver's address as its case is named: a receiver bound to every address is
    named by its host, so that receivers of several hosts (each checking its own) are
    cases of their own, not one case raised by one and cleared by another."""
    host = ctx.settings.dicom_host
    return f"{socket.gethostname() if host in WILDCARDS else host}:{ctx.settings.dicom_port}"


def _receiver(ctx: Context, now: dt.datetime) -> int:
    s = ctx.settings
    key = f"receiver:{_address(ctx)}"
    problem = echo(s.dicom_host, s.dicom_port, s.ae_title)
    with ctx.db.write() as db:
        if problem is None:
            db.execute(
                update(Alert)
                .where(Alert.key == key, Alert.cleared_at.is_(None))
                .values(cleared_at=now)
            )
            return 0
        again = db.execute(
            update(Alert)
            .where(Alert.key == key, Alert.cleared_at.is_not(None))
            .values(cleared_at=None, raised_at=now)
        )
        if not again.rowcount and not _raise(db, key, now):  # type: ignore[attr-defined]
            return 0  # told already: the same outage
        journal.record(db, ReceiverSilent(s.ae_title, _address(ctx), problem))
        log.warning("the DICOM receiver at %s does not answer: %s", _address(ctx), problem)
        return 1


def echo(host: str, port: int, ae_title: str) -> str | None:
    """C-ECHO the receiver at ``host:port`` as ``ae_title`` calling itself: None when it
    answers (an association rejected is an answer too: something listens), else what was
    found."""
    target = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)  # WILDCARDS
    try:  # first a plain connection: what the network says, in its own words
        socket.create_connection((target, port), timeout=ECHO_TIMEOUT_S).close()
    except OSError as exc:
        return f"No connection to {target}:{port}: {exc.strerror or exc}."
    ae = AE(ae_title=ae_title)
    ae.add_requested_context(Verification)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = ECHO_TIMEOUT_S
    ae.connection_timeout = ECHO_TIMEOUT_S
    assoc = ae.associate(target, port, ae_title=ae_title)
    try:
        if assoc.is_rejected:
            return None
        if not assoc.is_established:
            return f"No association with {target}:{port} (aborted or timed out)."
        status = assoc.send_c_echo()
        code = getattr(status, "Status", None)
        if code is None:
            return "The C-ECHO got no answer in time."
        if code != 0:
            return f"The C-ECHO was answered with status 0x{int(code):04X}."
        return None
    finally:
        if assoc.is_established:
            assoc.release()
        ae.shutdown()
