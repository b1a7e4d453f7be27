"""A project's recipients: only those who configure the project list and change them; an
address is checked and normalised, a topic must be one recipients get, no address twice."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select

from scandepot.access.actors import ANONYMOUS, SYSTEM, Actor
from scandepot.access.users import actor_for
from scandepot.catalog.access import AuditEvent, User
from scandepot.catalog.notify import Recipient
from scandepot.context import Context
from scandepot.errors import Conflict, Forbidden, Invalid, NotFound, Unauthorized
from scandepot.notify import subscriptions
from scandepot.notify.subscriptions import RecipientCreate, RecipientUpdate


def _actor(users: dict[str, User], name: str) -> Actor:
    return ANONYMOUS if name == "anonymous" else actor_for(users[name])


def test_an_owner_adds_changes_and_removes_recipients(
    ctx: Context, users: dict[str, User], make_project: Callable[..., str]
) -> None:
    project = make_project("private")
    owner = _actor(users, "owner")
    added = subscriptions.add_recipient(
        ctx, owner, project, RecipientCreate(address="  PI@Example.ORG ")
    )
    assert (added.address, added.topics) == ("PI@example.org", ["archived"])
    other = subscriptions.add_recipient(
        ctx,
        owner,
        project,
        RecipientCreate(address="lab@example.org", topics=["attention", "process", "process"]),
    )
    assert other.topics == ["process", "attention"]
    listed = subscriptions.list_recipients(ctx, owner, project)
    assert [(r.address, r.topics) for r in listed] == [
        ("PI@example.org", ["archived"]),
        ("lab@example.org", ["process", "attention"]),
    ]
    changed = subscriptions.change_recipient(
        ctx, owner, project, added.id, RecipientUpdate(topics=["archived", "process"])
    )
    assert changed.topics == ["archived", "process"]
    subscriptions.remove_recipient(ctx, owner, project, other.id)
    assert [r.address for r in subscriptions.list_recipients(ctx, owner, project)] == [
        "PI@example.org"
    ]
    with ctx.db.read() as db:
        actions = list(db.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
    assert actions[-4:] == [
        "notify.recipient_added",
        "notify.recipient_added",
        "notify.recipient_changed",
        "notify.recipient_removed",
    ]


@pytest.mark.parametrize(
    ("accessibility", "name", "error"),
    [
        ("private", "anonymous", Unauthorized),
        ("private", "outsider", NotFound),
        ("private", "collaborator", Forbidden),
        ("private", "member", Forbidden),
        ("public", "outsider", Forbidden),
        ("public", "member", Forbidden),
    ],
)
def test_only_those_who_configure_the_project_see_or_change_its_recipients(
    ctx: Context,
    users: dict[str, User],
    make_project: Callable[..., str],
    accessibility: str,
    name: str,
    error: type[Exception],
) -> None:
    project = make_project(accessibility)
    kept = subscriptions.add_recipient(
        ctx, SYSTEM, project, RecipientCreate(address="pi@example.org")
    )
    actor = _actor(users, name)
    attempts: list[Callable[[], object]] = [
        lambda: subscriptions.list_recipients(ctx, actor, project),
        lambda: subscriptions.add_recipient(
            ctx, actor, project, RecipientCreate(address="x@example.org")
        ),
        lambda: subscriptions.change_recipient(
            ctx, actor, project, kept.id, RecipientUpdate(topics=["process"])
        ),
        lambda: subscriptions.remove_recipient(ctx, actor, project, kept.id),
    ]
    for attempt in attempts:
        with pytest.raises(error):
            attempt()
    with ctx.db.read() as db:
        rows = db.execute(select(Recipient.address, Recipient.topics)).all()
    assert [tuple(r) for r in rows] == [("pi@example.org", ["archived"])]
    admin = _actor(users, "admin")
    assert [r.address for r in subscriptions.list_recipients(ctx, admin, project)] == [
        "pi@example.org"
    ]


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ({"address": "not-an-email"}, "address", "is not an email address"),
        ({"address": "a@b@example.org"}, "address", "is not an email address"),
        ({"address": "   "}, "address", "is not an email address"),
        ({"address": "pi@example.org", "topics": ["archived", "weekly"]}, "topics", "'weekly'"),
        ({"address": "pi@example.org", "topics": ["stuck"]}, "topics", "'stuck'"),
        ({"address": "pi@example.org", "topics": []}, "topics", "at least one topic"),
    ],
)
def test_bad_input_is_refused_naming_the_field(
    ctx: Context,
    users: dict[str, User],
    make_project: Callable[..., str],
    data: dict[str, object],
    field: str,
    words: str,
) -> None:
    project = make_project("private")
    with pytest.raises(Invalid) as caught:
        subscriptions.add_recipient(
            ctx, _actor(users, "owner"), project, RecipientCreate.model_validate(data)
        )
    assert caught.value.field == field and words in caught.value.message
    assert subscriptions.list_recipients(ctx, SYSTEM, project) == []


def test_an_address_is_a_recipient_once_per_project(
    ctx: Context, users: dict[str, User], make_project: Callable[..., str]
) -> None:
    first, second = make_project("private"), make_project("private")
    owner = _actor(users, "owner")
    subscriptions.add_recipient(ctx, owner, first, RecipientCreate(address="pi@example.org"))
    with pytest.raises(Conflict) as caught:
        subscriptions.add_recipient(ctx, owner, first, RecipientCreate(address="PI@EXAMPLE.org"))
    assert caught.value.field == "address" and "'PI@example.org'" in caught.value.message
    subscriptions.add_recipient(ctx, owner, second, RecipientCreate(address="pi@example.org"))


def test_a_recipient_of_another_project_is_not_found(
    ctx: Context, users: dict[str, User], make_project: Callable[..., str]
) -> None:
    first, second = make_project("private"), make_project("private")
    owner = _actor(users, "owner")
    theirs = subscriptions.add_recipient(
        ctx, owner, second, RecipientCreate(address="pi@example.org")
    )
    with pytest.raises(NotFound) as caught:
        subscriptions.remove_recipient(ctx, owner, first, theirs.id)
    assert caught.value.field == "recipient"
    with pytest.raises(Invalid) as bad:
        subscriptions.change_recipient(ctx, owner, second, theirs.id, RecipientUpdate(topics=["x"]))
    assert bad.value.field == "topics"
    assert subscriptions.recipient_by_address(ctx, owner, second, "PI@example.org") == theirs.id
    with pytest.raises(NotFound):
        subscriptions.recipient_by_address(ctx, owner, first, "pi@example.org")
