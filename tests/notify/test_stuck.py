"""Stuck staged sessions and a silent receiver: each case told once, to the site's
administrators, with what was found; a receiver that answers again clears its case."""

from __future__ import annotations

import datetime as dt
import socket
import threading
from collections.abc import Callable
from dataclasses import replace

import pytest
from sqlalchemy import select

from scandepot.catalog.access import User
from scandepot.catalog.journal import EventRecord
from scandepot.catalog.notify import Alert
from scandepot.catalog.prearchive import StagedSession
from scandepot.context import Context
from scandepot.dicom.synthetic import Series, Study, mr_instance
from scandepot.dimse import DimseSettings, Receiver
from scandepot.notify import compose, dispatch, stuck
from tests.notify.world import build, emails, journal_kinds, newest_notice, notices, send, upload


@pytest.fixture
def pilot(ctx: Context, make_project: Callable[..., str]) -> str:
    return make_project("private", label="PILOT", upload_destination="prearchive")


def staged(ctx: Context) -> StagedSession:
    with ctx.db.read() as db:
        found = db.scalar(select(StagedSession))
    assert found is not None
    return found


def alerts(ctx: Context) -> list[tuple[str, dt.datetime | None]]:
    with ctx.db.read() as db:
        rows = db.execute(select(Alert.key, Alert.cleared_at).order_by(Alert.id))
        return [(key, cleared) for key, cleared in rows]


def test_a_staged_session_not_archived_in_time_is_told_once_per_case(
    ctx: Context, pilot: str
) -> None:
    sent = upload(ctx, pilot, "S1", "E1", series=((1, "T1w"),), per_series=1)
    build(ctx)  # READY: the project archives on request only
    first = staged(ctx)
    due = first.last_received_at + dt.timedelta(minutes=ctx.settings.notify_stuck_after_min)
    assert stuck.run(ctx, now=due - dt.timedelta(seconds=1)) == 0
    assert stuck.run(ctx, now=due) == 1
    assert stuck.run(ctx, now=due + dt.timedelta(hours=5)) == 0
    assert alerts(ctx) == [(f"stuck:{first.id}:{first.last_received_at.isoformat()}", None)]
    assert journal_kinds(ctx).count("SessionStuck") == 1

    dispatch.run(ctx, now=due)
    assert [n for n in notices(ctx) if n[2] == "SessionStuck"] == [
        ("admin@example.org", "stuck", "SessionStuck")
    ]
    compose.run(ctx, now=newest_notice(ctx) + dt.timedelta(hours=1))
    [mail] = [m for m in emails(ctx) if m.topic == "stuck"]
    assert mail.target == "admin@example.org"
    since = first.last_received_at.strftime("%Y-%m-%d %H:%M UTC")
    assert mail.subject == f"[scandepot] Stuck: staged session {first.id} in PILOT since {since}"
    assert f"is READY, its last instance at {since}, 60 minutes without being archived" in (
        mail.text
    )
    assert "Found: Built but not archived: the project archives only on request." in mail.text
    assert f"{ctx.settings.public_url}/prearchive/{first.id}" in mail.text

    # More arrives, and the session sticks again: a new case.
    study = Study(StudyInstanceUID=sent[0].StudyInstanceUID)
    series = Series(1, "T1w", SeriesInstanceUID=sent[0].SeriesInstanceUID)
    send(ctx, mr_instance(study, series, 2, rows=8, columns=8), pilot, "S1", "E1")
    again = staged(ctx)
    assert again.id == first.id and again.last_received_at > first.last_received_at
    later = again.last_received_at + dt.timedelta(minutes=61)
    assert stuck.run(ctx, now=later) == 1
    assert len(alerts(ctx)) == 2


def test_two_senders_at_once_tell_a_case_once(ctx: Context, pilot: str) -> None:
    for n in range(5):
        upload(ctx, pilot, f"S{n}", f"E{n}", series=((1, "T1w"),), per_series=1)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
    found: list[int] = []

    def sender() -> None:
        found.append(stuck.run(ctx, now=later))

    threads = [threading.Thread(target=sender) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sum(found) == 5
    assert journal_kinds(ctx).count("SessionStuck") == 5
    assert len(alerts(ctx)) == 5


def silent_events(ctx: Context) -> list[dict[str, object]]:
    with ctx.db.read() as db:
        return list(
            db.scalars(
                select(EventRecord.payload)
                .where(EventRecord.kind == "ReceiverSilent")
                .order_by(EventRecord.id)
            )
        )


@pytest.mark.in_process("stops the receiver")
def test_a_receiver_that_does_not_answer_is_told_once_and_cleared_when_it_answers(
    ctx: Context, receiver: Receiver, users: dict[str, User]
) -> None:
    port = receiver.port
    ctx.settings.dicom_host, ctx.settings.dicom_port = "127.0.0.1", port
    key = f"receiver:127.0.0.1:{port}"
    t0 = dt.datetime.now(dt.UTC)
    assert stuck.run(ctx, now=t0, echo=True) == 0  # it answers
    receiver.stop()
    assert stuck.run(ctx, now=t0 + dt.timedelta(seconds=30), echo=True) == 0  # not due yet
    assert alerts(ctx) == []
    assert stuck.run(ctx, now=t0 + dt.timedelta(seconds=61), echo=True) == 1
    assert stuck.run(ctx, now=t0 + dt.timedelta(seconds=122), echo=True) == 0  # the same case
    assert alerts(ctx) == [(key, None)]
    [silent] = silent_events(ctx)
    assert silent["address"] == f"127.0.0.1:{port}" and silent["ae_title"] == "SCANDEPOT"
    assert silent["reason"] == f"No connection to 127.0.0.1:{port}: Connection refused."

    settings = replace(DimseSettings.from_context(ctx), port=port)
    back = Receiver(ctx, settings).start()
    try:
        answered = t0 + dt.timedelta(seconds=183)
        assert stuck.run(ctx, now=answered, echo=True) == 0
        assert alerts(ctx) == [(key, answered)]
    finally:
        back.stop()
    assert stuck.run(ctx, now=t0 + dt.timedelta(seconds=244), echo=True) == 1  # a new case
    assert alerts(ctx) == [(key, None)]
    assert len(silent_events(ctx)) == 2

    dispatch.run(ctx, now=t0)
    compose.run(ctx, now=newest_notice(ctx) + dt.timedelta(hours=1))
    [mail] = emails(ctx)
    assert mail.target == "admin@example.org" and mail.subject == "[scandepot] Stuck: 2 cases"
    assert f"The DICOM receiver SCANDEPOT at 127.0.0.1:{port} did not answer its own C-ECHO" in (
        mail.text
    )


def test_receivers_of_several_hosts_are_cases_of_their_own(
    ctx: Context, users: dict[str, User], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each `scandepot dicom` host checks its own receiver, bound to every address: one
    silent and one answering are two cases, not one raised and cleared in turn."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # nothing listens there once closed
    ctx.settings.dicom_host, ctx.settings.dicom_port = "0.0.0.0", port
    t0 = dt.datetime.now(dt.UTC)
    for n, host in enumerate(("dicom-a", "dicom-b")):
        monkeypatch.setattr(stuck.socket, "gethostname", lambda host=host: host)
        assert stuck.run(ctx, now=t0 + dt.timedelta(seconds=n), echo=True) == 1
    assert alerts(ctx) == [(f"receiver:dicom-a:{port}", None), (f"receiver:dicom-b:{port}", None)]
    assert [e["address"] for e in silent_events(ctx)] == [f"dicom-a:{port}", f"dicom-b:{port}"]
