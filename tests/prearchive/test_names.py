"""The stable name of a staged session (project, arrival to the millisecond, number): it
round-trips, survives a relabel, follows a move, and a name that does not match names
nothing, in the words a session out of sight gets."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select

from scandepot.access.actors import ANONYMOUS, SYSTEM
from scandepot.access.permissions import Action
from scandepot.access.users import actor_for
from scandepot.catalog.prearchive import StagedSession
from scandepot.context import Context
from scandepot.dicom.synthetic import Series, Study, mr_instance, to_bytes
from scandepot.errors import Invalid, NotFound, Unauthorized
from scandepot.ingest.receive import Source, receive
from scandepot.prearchive import names, operations
from scandepot.prearchive.operations import Relabel


@pytest.fixture
def staged(ctx: Context, make_project: Callable[..., str]) -> StagedSession:
    make_project("private", label="PILOT")
    make_project("private", label="OTHER")
    with ctx.store.stage() as body:
        body.write(to_bytes(mr_instance(Study(), Series(), 1, rows=8, columns=8)))
        receive(ctx, body, Source("upload", project="PILOT"))
    with ctx.db.read() as db:
        found = db.scalar(select(StagedSession))
        assert found is not None
        return found


@pytest.mark.parametrize("prefix", ["", "/data", "/REST"], ids=["bare", "data", "rest"])
def test_parse_what_clients_send(prefix: str) -> None:
    name = names.parse(f"{prefix}/prearchive/projects/P/20240131_083015123/17/")
    assert name == names.Name("P", "20240131_083015123", "17")
    assert name.path == "/prearchive/projects/P/20240131_083015123/17"


@pytest.mark.parametrize(
    "uri",
    [
        "/archive/projects/P/subjects/S",
        "/prearchive/projects/P",
        "/prearchive/projects/P/T/S/extra",
        "/data/prearchive/projects//T/S",
        "",
    ],
)
def test_parse_refuses_what_is_no_entry(uri: str) -> None:
    with pytest.raises(Invalid, match="is not a prearchive session"):
        names.parse(uri)


def test_the_name_round_trips(ctx: Context, staged: StagedSession, users: Any) -> None:
    name = names.of(staged)
    assert name.project == "PILOT" and name.folder == str(staged.id)
    arrived = datetime.strptime(name.timestamp, "%Y%m%d_%H%M%S%f")
    assert arrived == staged.created_at.replace(
        tzinfo=None, microsecond=staged.created_at.microsecond // 1000 * 1000
    )
    with ctx.db.read() as db:
        assert names.load(db, SYSTEM, names.parse(name.path), Action.PREARCHIVE).id == staged.id
    # A relabel keeps the name; a move changes its project only.
    operations.relabel(ctx, SYSTEM, staged.id, Relabel(subject="S2", session="E2"))
    assert names.find(ctx, SYSTEM, name) == staged.id
    operations.relabel(ctx, SYSTEM, staged.id, Relabel(project="OTHER"))
    moved = names.Name("OTHER", name.timestamp, name.folder)
    assert names.find(ctx, SYSTEM, moved) == staged.id
    with pytest.raises(NotFound):
        names.find(ctx, SYSTEM, name)


@pytest.mark.parametrize(
    "change",
    [
        {"timestamp": "20000101_000000000"},
        {"project": "OTHER"},
        {"folder": "999999"},
        {"folder": "E1"},
        {"folder": "9" * 40},
    ],
)
def test_a_name_that_does_not_match_names_nothing(
    ctx: Context, staged: StagedSession, users: Any, change: dict[str, str]
) -> None:
    name = names.of(staged)
    wrong = names.Name(
        **{
            **{"project": name.project, "timestamp": name.timestamp, "folder": name.folder},
            **change,
        }
    )
    with pytest.raises(NotFound, match="No prearchive session at"):
        names.find(ctx, SYSTEM, wrong)


def test_out_of_sight_is_the_same_answer(
    ctx: Context, staged: StagedSession, users: dict[str, Any]
) -> None:
    name = names.of(staged)
    outsider = actor_for(users["outsider"])
    with pytest.raises(NotFound, match="No prearchive session at"):
        names.find(ctx, outsider, name)
    with pytest.raises(Unauthorized):
        names.find(ctx, ANONYMOUS, name)
