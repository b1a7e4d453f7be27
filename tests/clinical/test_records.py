"""A subject's and a session's clinical record: created, replaced, patched and deleted
against the schema in force, each change a version saying who changed what."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select

from scandepot.access.actors import SYSTEM
from scandepot.archive import sessions, subjects
from scandepot.archive.sessions import SessionCreate
from scandepot.catalog.access import AuditEvent, User
from scandepot.clinical import records
from scandepot.clinical.records import Target
from scandepot.context import Context
from scandepot.errors import Conflict, Forbidden, Invalid, NotFound, Unauthorized
from tests.clinical.world import actor, make_subjects, set_schemas


@pytest.fixture
def project(ctx: Context, make_project: Callable[..., str]) -> str:
    label = make_project()
    set_schemas(ctx, label)
    make_subjects(ctx, label, "S1", "S2")
    sessions.create(ctx, SYSTEM, label, SessionCreate(label="E1", subject="S1"))
    return label


def test_crud_and_history(ctx: Context, project: str, users: dict[str, User]) -> None:
    member, owner = actor(users, "member"), actor(users, "owner")
    s1 = Target(project, "S1")
    view, status = records.put(ctx, member, s1, {"diagnosis": "MCI", "age": 71})
    assert (status, view.version, view.schema_version, view.updated_by) == (
        "created",
        1,
        1,
        "member",
    )
    # The same values again write nothing.
    assert records.put(ctx, member, s1, {"age": 71, "diagnosis": "MCI"})[1] == "unchanged"
    view, status = records.patch(ctx, owner, s1, {"weight": 80.5, "age": None})
    assert status == "changed" and view.values == {"weight": 80.5, "diagnosis": "MCI"}
    assert list(view.values) == ["weight", "diagnosis"]  # the schema's order
    with pytest.raises(Conflict, match="version 2, not 1"):
        records.patch(ctx, member, s1, {"smoker": True}, expected=1)
    records.patch(ctx, member, s1, {"smoker": True}, expected=2)
    records.delete(ctx, owner, s1)
    with pytest.raises(NotFound, match="No clinical record for subject 'S1'"):
        records.get(ctx, member, s1)
    with pytest.raises(NotFound):
        records.delete(ctx, owner, s1)
    assert records.put(ctx, member, s1, {"diagnosis": "AD"})[0].version == 5
    found = records.history(ctx, actor(users, "collaborator"), s1)
    assert [(v.version, v.changed_by, v.source) for v in found] == [
        (5, "member", "api"),
        (4, "owner", "api"),
        (3, "member", "api"),
        (2, "owner", "api"),
        (1, "member", "api"),
    ]
    assert found[1].values is None
    assert found[4].values == {"age": 71, "diagnosis": "MCI"}
    with ctx.db.read() as db:
        events = db.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == "clinical.records_changed")
            .order_by(AuditEvent.id)
        ).all()
    assert [(e.target, e.detail) for e in events][:2] == [
        ("S1", {"source": "api", "created": 1, "changed": 0, "deleted": 0}),
        ("S1", {"source": "api", "created": 0, "changed": 1, "deleted": 0}),
    ]
    assert events[3].detail["deleted"] == 1 and len(events) == 5


def test_session_record(ctx: Context, project: str, users: dict[str, User]) -> None:
    e1 = Target(project, session="E1")
    view = records.put(ctx, actor(users, "member"), e1, {"mmse": 28, "visit_date": "2024-03-01"})[0]
    assert (view.level, view.subject, view.session) == ("session", "S1", "E1")
    # A session's record is its own: the subject has none.
    with pytest.raises(NotFound):
        records.get(ctx, SYSTEM, Target(project, "S1"))
    with pytest.raises(Invalid) as refused:
        records.put(ctx, SYSTEM, e1, {"mmse": 31, "visit_date": "01/03/2024", "weight": 3})
    reasons = {d["name"]: d["reason"] for d in refused.value.details or []}
    assert set(reasons) == {"/mmse", "/visit_date", "/weight"}
    assert "3 problems" in refused.value.message


def test_bad_targets(ctx: Context, project: str, make_project: Callable[..., str]) -> None:
    with pytest.raises(NotFound, match="Subject 'S9' not found"):
        records.put(ctx, SYSTEM, Target(project, "S9"), {"diagnosis": "AD"})
    with pytest.raises(NotFound, match="Session 'E9' not found"):
        records.put(ctx, SYSTEM, Target(project, session="E9"), {"mmse": 1})
    with pytest.raises(Invalid, match="required, and missing"):
        records.put(ctx, SYSTEM, Target(project, "S1"), {})
    with pytest.raises(Invalid, match="A record is a JSON object"):
        records.put(ctx, SYSTEM, Target(project, "S1"), ["AD"])  # type: ignore[arg-type]
    bare = make_project()
    make_subjects(ctx, bare, "S1")
    with pytest.raises(NotFound, match="no clinical schema for the subject level"):
        records.put(ctx, SYSTEM, Target(bare, "S1"), {"diagnosis": "AD"})


def test_permissions(
    ctx: Context, project: str, users: dict[str, User], make_project: Callable[..., str]
) -> None:
    s1 = Target(project, "S1")
    records.put(ctx, actor(users, "member"), s1, {"diagnosis": "HC"})
    assert records.get(ctx, actor(users, "collaborator"), s1).values == {"diagnosis": "HC"}
    with pytest.raises(Forbidden):
        records.put(ctx, actor(users, "collaborator"), s1, {"diagnosis": "AD"})
    with pytest.raises(Forbidden):
        records.delete(ctx, actor(users, "collaborator"), s1)
    with pytest.raises(Forbidden):  # a delete takes manage, as every delete in a project
        records.delete(ctx, actor(users, "member"), s1)
    for name in ("outsider", "anonymous"):
        error = NotFound if name == "outsider" else Unauthorized
        with pytest.raises(error):
            records.get(ctx, actor(users, name), s1)
        with pytest.raises(error):
            records.history(ctx, actor(users, name), s1)
    public = make_project(accessibility="public")
    set_schemas(ctx, public)
    make_subjects(ctx, public, "S1")
    records.put(ctx, SYSTEM, Target(public, "S1"), {"diagnosis": "HC"})
    # A public project is readable by all, as its images are; nobody outside writes.
    with pytest.raises(Unauthorized):
        records.put(ctx, actor(users, "anonymous"), Target(public, "S1"), {"diagnosis": "AD"})
    with pytest.raises(Forbidden):
        records.patch(ctx, actor(users, "outsider"), Target(public, "S1"), {"diagnosis": "AD"})


def test_a_deleted_subject_takes_its_record_along(ctx: Context, project: str) -> None:
    records.put(ctx, SYSTEM, Target(project, "S2"), {"diagnosis": "AD"})
    subjects.delete(ctx, SYSTEM, project, "S2")
    make_subjects(ctx, project, "S2")  # a new subject under the old label has no record
    with pytest.raises(NotFound, match="No clinical record"):
        records.history(ctx, SYSTEM, Target(project, "S2"))
