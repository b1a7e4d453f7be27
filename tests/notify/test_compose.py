"""From notices to emails in the outbox: one message per recipient and topic, when the
burst is over; what each says, its links opening the pages they name; a gap in a
template that does not stop the message."""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from scandepot.access.actors import SYSTEM
from scandepot.archive import projects, sessions
from scandepot.archive.projects import ProjectSettings
from scandepot.catalog.journal import EventRecord
from scandepot.catalog.notify import Notice
from scandepot.catalog.prearchive import StagedSession
from scandepot.context import Context
from scandepot.dicom.synthetic import Series, Study, mr_instance
from scandepot.notify import compose, dispatch
from tests.helpers import ADMIN
from tests.notify.world import (
    build,
    choose,
    emails,
    newest_notice,
    recipient,
    send,
    upload,
)

PASSWORD = "correct-horse-battery"


@pytest.fixture
def pilot(ctx: Context, make_project: Callable[..., str]) -> str:
    return make_project("private", label="PILOT", upload_destination="archive")


def compose_all(ctx: Context) -> int:
    """Dispatch the journal, then compose as the burst's quiet time has passed."""
    dispatch.run(ctx, now=dt.datetime.now(dt.UTC))
    later = newest_notice(ctx) + dt.timedelta(seconds=ctx.settings.notify_batch_s)
    return compose.run(ctx, now=later)


def path_of(link: str, ctx: Context) -> str:
    base = ctx.settings.public_url.rstrip("/")
    assert link.startswith(base + "/"), link
    return link[len(base) :]


def test_the_archived_message_names_the_session_and_its_link_opens_for_members_only(
    ctx: Context, pilot: str, client: TestClient, make_project: Callable[..., str]
) -> None:
    make_project("private", label="OTHER")
    upload(ctx, pilot, "S1", "E1", by="member")
    build(ctx)
    assert compose_all(ctx) == 1
    [mail] = emails(ctx)
    assert mail.target == "member@example.org" and mail.topic == "archived"
    assert mail.subject == "[scandepot] Session E1 archived in PILOT"
    link = f"{ctx.settings.public_url}/projects/PILOT/sessions/E1"
    assert link in mail.text and f'href="{link}"' in mail.html
    assert "PILOT / S1 / E1 (SD_E00001), 4 files" in mail.text
    assert "scan 1 T1w: 2 files" in mail.text and "scan 2 rest BOLD: 2 files" in mail.text
    assert "Sent by upload:member (member), archived by system" in mail.text
    assert mail.project_id is not None
    with ctx.db.read() as db:
        assert set(db.scalars(select(Notice.message_id))) == {mail.id}
    assert compose.run(ctx, now=dt.datetime.now(dt.UTC) + dt.timedelta(days=1)) == 0

    page = path_of(link, ctx)
    assert client.get(page, auth=("member", PASSWORD)).status_code == 200
    assert client.get(page, auth=("collaborator", PASSWORD)).status_code == 200
    assert client.get(page, auth=("outsider", PASSWORD)).status_code == 404


def test_forty_sessions_at_once_make_one_message_per_recipient(ctx: Context, pilot: str) -> None:
    recipient(ctx, pilot, "lab@example.org", "archived")
    choose(ctx, "owner", "process", True)
    for n in range(40):
        upload(ctx, pilot, f"S{n}", f"E{n:02d}", series=((1, "T1w"),), per_series=1)
    build(ctx)
    assert compose_all(ctx) == 3
    by_target = {m.target: m for m in emails(ctx)}
    assert sorted(by_target) == ["lab@example.org", "member@example.org", "owner@example.org"]
    for who in ("lab@example.org", "member@example.org"):
        mail = by_target[who]
        assert mail.subject == "[scandepot] 40 sessions archived in PILOT"
        links = re.findall(r"/projects/PILOT/sessions/E\d\d$", mail.text, re.MULTILINE)
        assert len(links) == 40 and len(set(links)) == 40
        assert mail.html.count("<li style=") == 40
    process = by_target["owner@example.org"]
    assert process.topic == "process"
    assert process.subject == "[scandepot] 120 updates in PILOT"
    assert len(re.findall(r"^\S.*(Received|Built|Archived) ", process.text, re.MULTILINE)) == 120


def test_a_message_waits_for_the_burst_to_end_or_for_its_longest_wait(
    ctx: Context, pilot: str
) -> None:
    ctx.settings.notify_batch_s = 300
    ctx.settings.notify_batch_max_s = 900
    upload(ctx, pilot, "S1", "E1")
    build(ctx)
    dispatch.run(ctx, now=dt.datetime.now(dt.UTC))
    newest = newest_notice(ctx)
    assert compose.run(ctx, now=newest + dt.timedelta(seconds=299)) == 0
    assert compose.run(ctx, now=newest + dt.timedelta(seconds=300)) == 1

    # Events keep coming: the first has waited its longest, so the message goes anyway.
    upload(ctx, pilot, "S2", "E2")
    upload(ctx, pilot, "S3", "E3")
    build(ctx)
    with ctx.db.write() as db:
        first = db.scalar(
            select(EventRecord.id)
            .where(EventRecord.dispatched_at.is_(None), EventRecord.kind == "SessionArchived")
            .order_by(EventRecord.id)
        )
        early = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=850)
        db.execute(update(EventRecord).where(EventRecord.id == first).values(created_at=early))
    dispatch.run(ctx, now=dt.datetime.now(dt.UTC))
    newest = newest_notice(ctx)
    assert compose.run(ctx, now=early + dt.timedelta(seconds=899)) == 0
    assert compose.run(ctx, now=early + dt.timedelta(seconds=900)) == 1
    assert newest > early + dt.timedelta(seconds=600)  # the burst was not over
    assert emails(ctx)[-1].subject == "[scandepot] 2 sessions archived in PILOT"


def test_what_was_filtered_out_kept_and_deleted_since_is_said(ctx: Context, pilot: str) -> None:
    projects.update(
        ctx, SYSTEM, pilot, ProjectSettings(series_filter_mode="deny", series_filter=["(?i)loc"])
    )
    sent = upload(ctx, pilot, "S1", "E1", series=((1, "T1w"), (9, "localizer")), per_series=1)
    build(ctx)
    first = sent[0]
    study = Study(StudyInstanceUID=first.StudyInstanceUID)
    series = Series(1, "T1w", SeriesInstanceUID=first.SeriesInstanceUID)
    again = mr_instance(
        study, series, 1, rows=8, columns=8, seed=77, SOPInstanceUID=first.SOPInstanceUID
    )
    send(ctx, again, pilot, "S1", "E1")  # other bytes for an archived instance: kept
    build(ctx)
    upload(ctx, pilot, "S2", "E2")
    build(ctx)
    sessions.delete(ctx, SYSTEM, pilot, "E2")
    assert compose_all(ctx) == 1
    text = emails(ctx)[0].text
    assert "1. PILOT / S1 / E1 (SD_E00001), 1 file\n" in text
    assert "   - scan 1 T1w: 1 file\n   Filtered out: series 9\n" in text
    assert "Resolved: Series 9 (localizer) left out by the series filter." in text
    assert "Differing files: 0 replaced, 1 kept as archived" in text
    assert "2. PILOT / S1 / E1 (SD_E00001), 0 files\n" in text
    gone = "3. PILOT / S2 / E2 (SD_E00002), 4 files\n   This session has been deleted since."
    assert gone in text


def test_an_unassigned_study_asks_the_administrators_with_a_link_to_it(
    ctx: Context, pilot: str, client: TestClient
) -> None:
    upload(ctx, None, "S1", "E1")
    build(ctx)
    assert compose_all(ctx) == 1
    [mail] = emails(ctx)
    with ctx.db.read() as db:
        staged = db.scalar(select(StagedSession))
    assert staged is not None
    assert mail.target == "admin@example.org" and mail.topic == "attention"
    assert mail.subject == (
        f"[scandepot] Needs attention: a study with no project (staged session {staged.id})"
    )
    assert "What to do: No routing rule found a project for this study" in mail.text
    link = f"{ctx.settings.public_url}/prearchive/{staged.id}"
    assert link in mail.text and f'href="{link}"' in mail.html
    assert client.get(path_of(link, ctx), auth=ADMIN).status_code == 200


def test_a_missing_template_value_leaves_a_gap_and_is_logged(
    ctx: Context, pilot: str, caplog: pytest.LogCaptureFixture
) -> None:
    # A notice an older version wrote, before archived events named the subject.
    payload = {"project": pilot, "session": "E1", "session_id": "SD_E00404", "files": 2}
    with ctx.db.write() as db:
        db.add(
            Notice(
                address="lab@example.org", topic="archived", event_id=1,
                kind="SessionArchived", project=pilot, payload=payload,
            )
        )  # fmt: skip
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    with caplog.at_level(logging.WARNING, logger="scandepot.notify.templates"):
        assert compose.run(ctx, now=later) == 1
    [mail] = emails(ctx)
    assert "PILOT /  / E1 (SD_E00404), 2 files" in mail.text
    assert "<b>PILOT /  / E1</b>" in mail.html
    assert any("subject" in r.getMessage() for r in caplog.records), caplog.records


def test_html_escapes_what_people_wrote(ctx: Context, pilot: str) -> None:
    payload = {
        "staged_id": 5, "project": pilot, "StudyInstanceUID": "1.2.3", "status": "CONFLICT",
        "reason": "<script>alert(1)</script> & more", "subject": "S1", "session": "E1",
        "source": "upload:member",
    }  # fmt: skip
    with ctx.db.write() as db:
        db.add(
            Notice(
                address="owner@example.org", topic="attention", event_id=1,
                kind="SessionNeedsAttention", project=pilot, payload=payload,
            )
        )  # fmt: skip
    assert compose.run(ctx, now=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)) == 1
    [mail] = emails(ctx)
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in mail.html
    assert "<script>" not in mail.html
    assert "<script>alert(1)</script> & more" in mail.text
    assert "The staged session is no longer in the prearchive." in mail.text
