"""Who hears of each kind of event: the defaults, people's own choices, a project's
recipients, and the accounts that are never told (no access, disabled, no address)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import update

from scandepot.catalog.access import User
from scandepot.context import Context
from scandepot.events import (
    JobFinished,
    ReceiverSilent,
    SessionArchived,
    SessionBuilt,
    SessionNeedsAttention,
    SessionReceived,
    SessionStuck,
)
from scandepot.notify.audience import audience
from tests.notify.world import choose, disable, recipient

UID = "1.2.826.0.1.3680043.8.498.1"


def archived(project: str = "PILOT", uploader: str | None = "member") -> SessionArchived:
    return SessionArchived(
        project, "S1", "E1", "SD_E00001", ("1",), files=4, uploader=uploader, source="upload:x"
    )


def attention(project: str | None = "PILOT", status: str = "CONFLICT") -> SessionNeedsAttention:
    return SessionNeedsAttention(7, project, UID, status, "Series 1 differs.")


def job(status: str) -> JobFinished:
    return JobFinished(3, "dcm2niix", "PILOT", status, "E1", "No valid DICOM images")


def told(ctx: Context, event: object) -> set[tuple[str, str]]:
    with ctx.db.read() as db:
        return {(one.address, one.topic.value) for one in audience(db, event)}


@pytest.fixture
def pilot(ctx: Context, make_project: Callable[..., str]) -> str:
    return make_project("private", label="PILOT")


def test_an_archived_session_reaches_its_uploader_and_the_projects_recipients(
    ctx: Context, pilot: str, make_project: Callable[..., str]
) -> None:
    recipient(ctx, pilot, "lab@example.org", "archived")
    recipient(ctx, make_project("private", label="OTHER"), "other@example.org", "archived")
    recipient(ctx, pilot, "pi@example.org", "attention")  # not this topic
    assert told(ctx, archived()) == {
        ("member@example.org", "archived"),
        ("lab@example.org", "archived"),
    }
    assert told(ctx, archived(uploader=None)) == {("lab@example.org", "archived")}
    assert told(ctx, archived(uploader="nobody-known")) == {("lab@example.org", "archived")}


def test_own_choices_a_projects_row_winning_over_the_row_for_all(ctx: Context, pilot: str) -> None:
    choose(ctx, "member", "archived", False)  # the uploader: off everywhere
    assert told(ctx, archived()) == set()
    choose(ctx, "member", "archived", True, project=pilot)  # ... but on in PILOT
    choose(ctx, "collaborator", "archived", True, project=pilot)
    assert told(ctx, archived()) == {
        ("member@example.org", "archived"),
        ("collaborator@example.org", "archived"),
    }


def test_no_access_a_disabled_account_or_no_address_is_never_told(
    ctx: Context, pilot: str, make_project: Callable[..., str]
) -> None:
    make_project("private", label="OTHER")  # the outsider is no collaborator of PILOT
    choose(ctx, "outsider", "archived", True)
    choose(ctx, "outsider", "process", True, project=pilot)
    choose(ctx, "collaborator", "process", True)
    choose(ctx, "owner", "process", True)
    disable(ctx, "member")  # the uploader
    with ctx.db.write() as db:
        db.execute(update(User).where(User.login == "owner").values(email=""))
    assert told(ctx, archived()) == {("collaborator@example.org", "process")}


def test_a_public_project_may_be_followed_by_anyone_signed_in(
    ctx: Context, make_project: Callable[..., str]
) -> None:
    make_project("public", label="OPEN")
    choose(ctx, "outsider", "archived", True)
    assert told(ctx, archived("OPEN", uploader=None)) == {("outsider@example.org", "archived")}


def test_the_process_series_is_off_by_default_and_each_step_reaches_who_turned_it_on(
    ctx: Context, pilot: str
) -> None:
    steps = [
        SessionReceived(7, pilot, "S1", "E1", UID, "upload:member", rule="upload"),
        SessionBuilt(7, pilot, "S1", "E1", UID, "READY", 2, 4),
        job("succeeded"),
        job("cancelled"),
    ]
    for step in steps:
        assert told(ctx, step) == set()
    choose(ctx, "owner", "process", True)
    recipient(ctx, pilot, "ops@example.org", "process")
    for step in steps:
        assert told(ctx, step) == {
            ("owner@example.org", "process"),
            ("ops@example.org", "process"),
        }
    # Archived: the uploader hears of it once, under the stronger topic.
    choose(ctx, "member", "process", True, project=pilot)
    assert told(ctx, archived()) == {
        ("member@example.org", "archived"),
        ("owner@example.org", "process"),
        ("ops@example.org", "process"),
    }


def test_needs_attention_reaches_the_owners_and_an_unassigned_study_the_administrators(
    ctx: Context, pilot: str, users: dict[str, User]
) -> None:
    recipient(ctx, pilot, "pi@example.org", "attention")
    owner = {("owner@example.org", "attention"), ("pi@example.org", "attention")}
    assert told(ctx, attention()) == owner
    assert told(ctx, attention(status="ERROR")) == owner
    assert told(ctx, job("failed")) == owner
    assert told(ctx, job("succeeded")) == set()
    unassigned = attention(project=None, status="READY")
    assert told(ctx, unassigned) == {("admin@example.org", "attention")}
    choose(ctx, "owner", "attention", False, project=pilot)
    assert told(ctx, attention()) == {("pi@example.org", "attention")}


def test_one_address_hears_of_one_event_once_under_its_strongest_topic(
    ctx: Context, pilot: str
) -> None:
    recipient(ctx, pilot, "Owner@Example.org", "attention", "process")
    choose(ctx, "owner", "process", True)
    with ctx.db.read() as db:
        heard = audience(db, job("failed"))
    assert [(h.address, h.topic.value) for h in heard] == [("Owner@Example.org", "attention")]


def test_stuck_and_a_silent_receiver_reach_the_site_administrators_alone(
    ctx: Context, pilot: str
) -> None:
    recipient(ctx, pilot, "lab@example.org", "archived", "process", "attention", "stuck")
    with ctx.db.write() as db:  # a second administrator, whose account is disabled
        db.add(User(login="admin2", email="admin2@example.org", is_site_admin=True, enabled=False))
    stuck = SessionStuck(7, pilot, UID, "READY", "2026-01-01T10:00:00+00:00", 61, "held")
    silent = ReceiverSilent("SCANDEPOT", "127.0.0.1:11112", "No association")
    assert told(ctx, stuck) == {("admin@example.org", "stuck")}
    assert told(ctx, silent) == {("admin@example.org", "stuck")}
