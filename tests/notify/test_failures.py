"""The outbox's failures, for site administrators: listed with what the peer said,
counted by state, sent again from the start, or put aside."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from sqlalchemy import select

from scandepot.access.actors import ANONYMOUS, SYSTEM, Actor
from scandepot.access.users import actor_for
from scandepot.catalog.access import User
from scandepot.catalog.archive import Project
from scandepot.catalog.notify import Delivery, OutboxMessage, Topic
from scandepot.catalog.paging import PageRequest
from scandepot.context import Context
from scandepot.errors import Conflict, Forbidden, Invalid, NotFound, Unauthorized
from scandepot.notify import failures, outbox
from scandepot.notify.outbox import Attempt

NOW = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)


def refused_and_failed(ctx: Context, project: str | None) -> tuple[int, int, int]:
    """Three emails: one refused (550), one given up after its attempts, one sent."""
    with ctx.db.write() as db:
        project_id = (
            db.scalar(select(Project.id).where(Project.label == project)) if project else None
        )
        made = [
            outbox.add_email(
                db,
                ctx,
                to=to,
                subject="Archived",
                text="t",
                html="",
                topic=Topic.ARCHIVED,
                project_id=project_id,
            ).id
            for to in ("gone@example.org", "slow@example.org", "ok@example.org")
        ]
    refused, failed, sent = made
    outbox.record(ctx, refused, Attempt(False, 550, "550 no such user", permanent=True))
    for _ in range(ctx.settings.notify_max_attempts):
        outbox.record(ctx, failed, Attempt(False, 451, "451 try later"))
    outbox.record(ctx, sent, Attempt(True, 250))
    return refused, failed, sent


def _actor(users: dict[str, User], name: str) -> Actor:
    return ANONYMOUS if name == "anonymous" else actor_for(users[name])


def test_failures_are_listed_counted_retried_and_dismissed(
    ctx: Context, users: dict[str, User], make_project: Callable[..., str]
) -> None:
    project = make_project("private")
    refused, failed, sent = refused_and_failed(ctx, project)
    admin = _actor(users, "admin")
    found = failures.list_failures(ctx, admin, PageRequest(limit=10))
    assert found.total == 2
    by_id = {f.id: f for f in found.items}
    assert [f.id for f in found.items] == [failed, refused]  # newest first
    assert (by_id[refused].to, by_id[refused].project, by_id[refused].topic) == (
        "gone@example.org",
        project,
        "archived",
    )
    assert (by_id[refused].status, by_id[refused].code) == ("refused", 550)
    assert by_id[refused].error == "550 no such user"
    assert (by_id[failed].status, by_id[failed].code) == ("failed", 451)
    assert failures.counts(ctx, admin) == {
        "pending": 0,
        "sent": 1,
        "refused": 1,
        "failed": 1,
        "dismissed": 0,
    }
    again = failures.retry(ctx, admin, refused, now=NOW)
    assert (again.status, again.attempts, again.last_try_at) == ("pending", 0, NOW)
    assert outbox.claim_due(ctx, limit=10, lease_s=60, now=NOW) == [refused]
    failures.dismiss(ctx, admin, failed)
    assert failures.list_failures(ctx, admin, PageRequest(limit=10)).total == 0
    put_aside = failures.list_failures(ctx, admin, PageRequest(limit=10), status="dismissed")
    assert [f.id for f in put_aside.items] == [failed]
    for done in (sent, failed, refused):  # sent, dismissed, pending: none is a failure
        with pytest.raises(Conflict):
            failures.retry(ctx, admin, done)
        with pytest.raises(Conflict):
            failures.dismiss(ctx, admin, done)
    with pytest.raises(NotFound):
        failures.retry(ctx, admin, 999_999)
    with pytest.raises(Invalid) as caught:
        failures.list_failures(ctx, admin, PageRequest(limit=10), status="lost")
    assert caught.value.field == "status"


def test_a_site_wide_message_has_no_project(ctx: Context, users: dict[str, User]) -> None:
    refused, _, _ = refused_and_failed(ctx, None)
    found = failures.list_failures(ctx, SYSTEM, PageRequest(limit=10))
    assert {f.id: f.project for f in found.items}[refused] is None


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("anonymous", Unauthorized),
        ("outsider", Forbidden),
        ("member", Forbidden),
        ("owner", Forbidden),
    ],
)
def test_only_site_administrators_see_or_touch_failures(
    ctx: Context,
    users: dict[str, User],
    make_project: Callable[..., str],
    name: str,
    error: type[Exception],
) -> None:
    project = make_project("private")
    refused, _, _ = refused_and_failed(ctx, project)
    actor = _actor(users, name)
    for attempt in (
        lambda: failures.list_failures(ctx, actor, PageRequest(limit=10)),
        lambda: failures.counts(ctx, actor),
        lambda: failures.retry(ctx, actor, refused),
        lambda: failures.dismiss(ctx, actor, refused),
    ):
        with pytest.raises(error):
            attempt()
    with ctx.db.read() as db:
        assert db.scalar(select(OutboxMessage.status).where(OutboxMessage.id == refused)) == (
            Delivery.REFUSED.value
        )
