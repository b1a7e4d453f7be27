"""A user's own choices: the defaults, a choice for all projects, one project's own
choice winning over it, and what a user may not choose."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select

from scandepot.access.actors import ANONYMOUS, SYSTEM, Actor
from scandepot.access.users import actor_for
from scandepot.catalog.access import User
from scandepot.catalog.archive import Project
from scandepot.catalog.notify import Choice
from scandepot.context import Context
from scandepot.errors import Forbidden, Invalid, NotFound, Unauthorized
from scandepot.events import SessionStuck
from scandepot.notify import choices
from scandepot.notify.audience import audience
from scandepot.notify.choices import ChoiceUpdate


def _actor(users: dict[str, User], name: str) -> Actor:
    return ANONYMOUS if name == "anonymous" else actor_for(users[name])


def _project_id(ctx: Context, label: str) -> int:
    with ctx.db.read() as db:
        found = db.scalar(select(Project.id).where(Project.label == label))
    assert found is not None
    return found


NOT_CHOSEN = {"archived": None, "process": None, "attention": None}


def test_defaults_then_a_choice_for_all_then_one_project_of_its_own(
    ctx: Context, users: dict[str, User], make_project: Callable[..., str]
) -> None:
    first, second = make_project("private"), make_project("private")
    member = _actor(users, "member")
    view = choices.get(ctx, member)
    assert view.defaults == {"archived": True, "process": False, "attention": True}
    assert view.chosen == NOT_CHOSEN and view.everywhere == view.defaults
    assert view.email == "member@example.org"
    assert [p.project for p in view.projects] == [first, second]
    view = choices.choose(ctx, member, ChoiceUpdate(topics={" Archived": False}))
    assert view.everywhere["archived"] is False and view.chosen["archived"] is False
    assert all(p.topics["archived"] is False for p in view.projects)
    view = choices.choose(
        ctx, member, ChoiceUpdate(project=second, topics={"process": True, "archived": True})
    )
    mine = {p.project: p for p in view.projects}
    assert mine[first].topics == {"archived": False, "process": False, "attention": True}
    assert mine[second].topics == {"archived": True, "process": True, "attention": True}
    assert mine[second].own == {"archived": True, "process": True, "attention": None}
    assert mine[first].own == NOT_CHOSEN
    with ctx.db.read() as db:
        rows = db.execute(select(Choice.project_id, Choice.topic, Choice.enabled)).all()
    second_id = _project_id(ctx, second)
    assert sorted(rows, key=str) == sorted(
        [(None, "archived", False), (second_id, "archived", True), (second_id, "process", True)],
        key=str,
    )
    # null: back to not chosen (the default, or the choice for all projects).
    view = choices.choose(ctx, member, ChoiceUpdate(topics={"archived": None}))
    assert view.chosen == NOT_CHOSEN and view.everywhere["archived"] is True
    choices.reset(ctx, member, second)
    view = choices.get(ctx, member)
    assert {p.project: p.own for p in view.projects} == {first: NOT_CHOSEN, second: NOT_CHOSEN}
    with ctx.db.read() as db:
        assert db.scalars(select(Choice)).all() == []


def test_each_user_sets_only_their_own(
    ctx: Context, users: dict[str, User], make_project: Callable[..., str]
) -> None:
    project = make_project("private")
    choices.choose(ctx, _actor(users, "owner"), ChoiceUpdate(topics={"process": True}))
    assert choices.get(ctx, _actor(users, "member")).everywhere["process"] is False
    with ctx.db.read() as db:
        owners = db.scalars(select(Choice.user_id)).all()
    assert owners == [users["owner"].id]
    with pytest.raises(Unauthorized):
        choices.get(ctx, ANONYMOUS)
    with pytest.raises(Unauthorized):
        choices.choose(ctx, ANONYMOUS, ChoiceUpdate(topics={"process": True}))
    with pytest.raises(Forbidden):
        choices.get(ctx, SYSTEM)
    del project


@pytest.mark.parametrize(
    ("accessibility", "error"),
    [("private", NotFound), ("protected", Forbidden)],
)
def test_a_project_one_may_not_read_is_refused_as_the_loaders_refuse_it(
    ctx: Context,
    users: dict[str, User],
    make_project: Callable[..., str],
    accessibility: str,
    error: type[Exception],
) -> None:
    project = make_project(accessibility)
    outsider = _actor(users, "outsider")
    with pytest.raises(error):
        choices.choose(ctx, outsider, ChoiceUpdate(project=project, topics={"process": True}))
    with pytest.raises(error):
        choices.reset(ctx, outsider, project)
    with pytest.raises(NotFound):
        choices.choose(ctx, outsider, ChoiceUpdate(project="NOPE", topics={"process": True}))
    with ctx.db.read() as db:
        assert db.scalars(select(Choice)).all() == []


def test_a_public_project_is_chosen_for_by_any_user(
    ctx: Context, users: dict[str, User], make_project: Callable[..., str]
) -> None:
    project = make_project("public")
    outsider = _actor(users, "outsider")
    view = choices.choose(ctx, outsider, ChoiceUpdate(project=project, topics={"process": True}))
    assert [(p.project, p.topics["process"]) for p in view.projects] == [(project, True)]


def test_stuck_is_a_site_administrators_and_site_wide(
    ctx: Context, users: dict[str, User], make_project: Callable[..., str]
) -> None:
    project = make_project("private")
    admin, member = _actor(users, "admin"), _actor(users, "member")
    assert choices.get(ctx, admin).defaults == {
        "archived": True,
        "process": False,
        "attention": True,
        "stuck": True,
    }
    assert (
        choices.choose(ctx, admin, ChoiceUpdate(topics={"stuck": False})).everywhere["stuck"]
        is False
    )
    cases = [
        (member, ChoiceUpdate(topics={"stuck": False}), "'stuck'"),
        (admin, ChoiceUpdate(project=project, topics={"stuck": False}), "for all projects"),
        (member, ChoiceUpdate(topics={"weekly": True}), "'weekly'"),
        (member, ChoiceUpdate(topics={}), "at least one topic"),
    ]
    for actor, data, words in cases:
        with pytest.raises(Invalid) as caught:
            choices.choose(ctx, actor, data)
        assert caught.value.field == "topics" and words in caught.value.message


def test_an_administrator_who_turns_stuck_off_is_not_told(
    ctx: Context, users: dict[str, User]
) -> None:
    stuck = SessionStuck(7, None, "1.2.3", "READY", "2026-01-01T10:00:00+00:00", 61, "held")
    admin = _actor(users, "admin")

    def told() -> list[str]:
        with ctx.db.read() as db:
            return [one.address for one in audience(db, stuck)]

    assert told() == ["admin@example.org"]
    choices.choose(ctx, admin, ChoiceUpdate(topics={"stuck": False}))
    assert told() == []
    choices.choose(ctx, admin, ChoiceUpdate(topics={"stuck": None}))
    assert told() == ["admin@example.org"]
