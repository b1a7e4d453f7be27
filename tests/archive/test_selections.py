"""Saved selections: saved, shown by the sessions' labels of the moment, changed, renamed and
deleted, at the levels docs/access.md gives; through the service and the API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from scandepot.access.actors import ANONYMOUS, SYSTEM
from scandepot.access.users import actor_for
from scandepot.archive import selections, sessions, subjects
from scandepot.archive.selections import SelectionChange, SelectionCreate
from scandepot.archive.sessions import SessionCreate, SessionFields
from scandepot.archive.subjects import SubjectCreate, SubjectFields
from scandepot.catalog.access import User
from scandepot.catalog.selections import SelectionSession
from scandepot.context import Context
from scandepot.errors import Conflict, Forbidden, Invalid, NotFound, Unauthorized
from scandepot.transfers import shares


@pytest.fixture
def project(ctx: Context, make_project: Callable[..., str]) -> str:
    """A project with S1 (E1, E2) and S2 (E3)."""
    label = make_project()
    for subject, chosen in (("S1", ("E1", "E2")), ("S2", ("E3",))):
        subjects.create(ctx, SYSTEM, label, SubjectCreate(label=subject))
        for session in chosen:
            sessions.create(ctx, SYSTEM, label, SessionCreate(label=session, subject=subject))
    return label


def _actor(users: dict[str, User], name: str) -> Any:
    return actor_for(users[name])


def _labels(view: selections.SelectionView) -> list[str]:
    return [m.label for m in view.sessions]


def test_a_selection_keeps_its_sessions_through_relabels_and_loses_deleted_ones(
    ctx: Context, users: dict[str, User], project: str
) -> None:
    member = _actor(users, "member")
    e3_id = sessions.get(ctx, member, project, "E3").stable_id
    saved = selections.create(
        ctx, member, project, SelectionCreate(name="baseline", sessions=["e2", "E1", e3_id, "E1"])
    )
    assert _labels(saved) == ["E1", "E2", "E3"] and saved.created_by == "member"
    assert [m.subject for m in saved.sessions] == ["S1", "S1", "S2"]
    sessions.update(ctx, member, project, "E1", SessionFields(label="E1b"))
    subjects.update(ctx, member, project, "S2", SubjectFields(label="S2b"))
    shown = selections.get(ctx, _actor(users, "collaborator"), project, "BASELINE")
    assert _labels(shown) == ["E1b", "E2", "E3"] and shown.sessions[2].subject == "S2b"
    sessions.delete(ctx, _actor(users, "owner"), project, "E2")
    assert _labels(selections.get(ctx, member, project, "baseline")) == ["E1b", "E3"]
    listed = selections.list_selections(ctx, member, project)
    assert [(v.name, len(v.sessions)) for v in listed] == [("baseline", 2)]


def test_a_selection_is_changed_renamed_and_deleted(
    ctx: Context, users: dict[str, User], project: str
) -> None:
    member, owner = _actor(users, "member"), _actor(users, "owner")
    selections.create(ctx, member, project, SelectionCreate(name="a", sessions=["E1"]))
    changed = selections.change(
        ctx,
        member,
        project,
        "a",
        SelectionChange(add=["E2", "E3", "E1"], remove=["E3"], name="b", description="why"),
    )
    assert (changed.name, changed.description, _labels(changed)) == ("b", "why", ["E1", "E2"])
    assert changed.updated_at >= changed.created_at
    with pytest.raises(NotFound, match="Selection 'a' not found"):
        selections.get(ctx, member, project, "a")
    same = selections.change(ctx, member, project, "b", SelectionChange(remove=["E3"]))
    assert _labels(same) == ["E1", "E2"]  # one not in it: nothing to take out
    with pytest.raises(Forbidden):  # deleting takes manage, as every delete in a project
        selections.delete(ctx, member, project, "b")
    selections.delete(ctx, owner, project, "b")
    assert selections.list_selections(ctx, member, project) == []
    with ctx.db.read() as db:
        assert db.scalar(select(func.count()).select_from(SelectionSession)) == 0


def test_bad_input_is_refused_and_changes_nothing(
    ctx: Context, users: dict[str, User], project: str, make_project: Callable[..., str]
) -> None:
    member = _actor(users, "member")
    selections.create(ctx, member, project, SelectionCreate(name="a", sessions=["E1"]))
    with pytest.raises(Conflict, match="selection named 'A' already exists"):
        selections.create(ctx, member, project, SelectionCreate(name="A"))
    with pytest.raises(Invalid, match="name must be letters"):
        selections.create(ctx, member, project, SelectionCreate(name="a b"))
    with pytest.raises(NotFound, match="not found in project .*: E8, E9\\.$"):
        selections.create(ctx, member, project, SelectionCreate(name="c", sessions=["E8", "E9"]))
    with pytest.raises(NotFound, match="E9"):
        selections.change(ctx, member, project, "a", SelectionChange(add=["E2", "E9"]))
    selections.create(ctx, member, project, SelectionCreate(name="b"))
    with pytest.raises(Conflict):
        selections.change(ctx, member, project, "a", SelectionChange(name="B"))
    # A session shared into a project is selected in the project that owns it.
    other = make_project()
    shares.share_session(ctx, SYSTEM, project, "E3", other)
    with pytest.raises(NotFound, match="E3: shared from another project"):
        selections.create(ctx, member, other, SelectionCreate(name="x", sessions=["E3"]))
    assert _labels(selections.get(ctx, member, project, "a")) == ["E1"]
    assert [v.name for v in selections.list_selections(ctx, member, project)] == ["a", "b"]


def test_a_deleted_project_takes_its_selections(
    ctx: Context, users: dict[str, User], project: str
) -> None:
    from scandepot.archive import projects
    from scandepot.catalog.selections import Selection

    selections.create(ctx, SYSTEM, project, SelectionCreate(name="a", sessions=["E1", "E3"]))
    projects.delete(ctx, _actor(users, "owner"), project, recursive=True)
    with ctx.db.read() as db:
        assert db.scalar(select(func.count()).select_from(Selection)) == 0
        assert db.scalar(select(func.count()).select_from(SelectionSession)) == 0


def test_who_may_do_what(ctx: Context, users: dict[str, User], project: str) -> None:
    collaborator = _actor(users, "collaborator")
    with pytest.raises(Forbidden):
        selections.create(ctx, collaborator, project, SelectionCreate(name="a"))
    selections.create(ctx, _actor(users, "member"), project, SelectionCreate(name="a"))
    with pytest.raises(Forbidden):
        selections.change(ctx, collaborator, project, "a", SelectionChange(add=["E1"]))
    assert selections.get(ctx, collaborator, project, "a").name == "a"
    with pytest.raises(NotFound, match="Project"):
        selections.list_selections(ctx, _actor(users, "outsider"), project)
    with pytest.raises(Unauthorized):
        selections.get(ctx, ANONYMOUS, project, "a")


@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_api(client: TestClient, actors: dict[str, Any], project: str) -> None:
    base = f"/api/v1/projects/{project}/selections"
    member = actors["member"]
    r = client.post(base, auth=member, json={"name": "t1", "sessions": ["E1", "E3"]})
    assert r.status_code == 201, r.text
    assert r.headers["location"] == f"{base}/t1" == r.json()["url"]
    assert [(s["label"], s["subject"]) for s in r.json()["sessions"]] == [
        ("E1", "S1"),
        ("E3", "S2"),
    ]
    assert r.json()["sessions"][0]["id"].startswith("SD_E")
    again = client.post(base, auth=member, json={"name": "T1"})
    assert again.status_code == 409 and again.json()["error"]["field"] == "name"
    missing = client.post(base, auth=member, json={"name": "t2", "sessions": ["E7"]})
    assert missing.status_code == 404 and "E7" in missing.json()["error"]["message"]
    extra = client.post(base, auth=member, json={"name": "t2", "labels": []})
    assert extra.status_code == 422
    r = client.patch(f"{base}/t1", auth=member, json={"add": ["E2"], "remove": ["E1"]})
    assert [s["label"] for s in r.json()["sessions"]] == ["E2", "E3"]
    listed = client.get(base, auth=actors["collaborator"]).json()
    assert [(s["name"], len(s["sessions"])) for s in listed] == [("t1", 2)]
    assert client.delete(f"{base}/t1", auth=member).status_code == 403
    assert client.delete(f"{base}/t1", auth=actors["owner"]).status_code == 204
    assert client.get(f"{base}/t1", auth=member).status_code == 404
