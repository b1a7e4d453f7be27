"""A project's pseudonym table: every row checked, a refusal naming each bad row with
nothing written, merge and replace, export, clear, who may, and the audit log."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from scandepot.access.actors import SYSTEM
from scandepot.access.users import actor_for
from scandepot.catalog.access import AuditEvent, User
from scandepot.catalog.archive import Project
from scandepot.catalog.deid import Pseudonym
from scandepot.context import Context
from scandepot.deid import in_force, pseudonyms
from scandepot.deid.pseudonyms import Format, Mode
from scandepot.errors import Forbidden, Invalid, NotFound

TABLE = "kind,original,pseudonym\nptid,4MR1,SUBJ-001\nptname,CompressedSamples^MR1,Subject^One\n"


def table(ctx: Context, project: str) -> set[tuple[str, str, str]]:
    with ctx.db.read() as db:
        rows = db.execute(
            select(Pseudonym.kind, Pseudonym.original, Pseudonym.pseudonym)
            .join(Project, Project.id == Pseudonym.project_id)
            .where(Project.label == project)
        ).all()
    return {tuple(r) for r in rows}  # type: ignore[misc]


def audit(ctx: Context, action: str) -> list[AuditEvent]:
    with ctx.db.read() as db:
        return list(
            db.scalars(
                select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
            )
        )


@pytest.fixture
def owner(users: dict[str, User]) -> Any:
    return actor_for(users["owner"])


def test_import_then_the_keys_read_the_table(
    ctx: Context, make_project: Callable[..., str], owner: Any
) -> None:
    project = make_project()
    report = pseudonyms.import_csv(ctx, owner, project, TABLE)
    assert (report.added, report.unchanged, report.removed, report.total) == (2, 0, 0, 2)
    assert [(r.line, r.kind, r.status) for r in report.rows] == [
        (2, "ptid", "added"),
        (3, "ptname", "added"),
    ]
    with ctx.db.write() as db:
        project_id = db.scalar(select(Project.id).where(Project.label == project))
        assert project_id is not None
        keys = in_force.keys_of(db, project_id)
    assert keys.pseudonym("ptid", " 4MR1 ") == "SUBJ-001"
    assert keys.pseudonym("ptname", "CompressedSamples^MR1") == "Subject^One"
    [event] = audit(ctx, "deid.pseudonyms_changed")
    assert (event.project, event.target, event.actor_login) == (project, "pseudonyms", "owner")
    assert event.detail == {"rows": 2, "mode": "merge", "added": 2, "removed": 0}


def test_every_bad_row_is_named_and_nothing_is_written(
    ctx: Context, make_project: Callable[..., str], owner: Any
) -> None:
    project = make_project()
    bad = (
        "kind,original,pseudonym\n"
        "ptid,A1,P1\n"  # 2: fine
        "ptid,A2\n"  # 3: two fields
        "pt id,A3,P3\n"  # 4: not a kind
        "ptid,,P4\n"  # 5: empty original
        "ptid,A1,P5\n"  # 6: A1 again (line 2)
        "ptid,A6,P1\n"  # 7: P1 again (line 2)
        "ptname,A1,P1\n"  # 8: another kind: fine
    )
    with pytest.raises(Invalid) as refused:
        pseudonyms.import_csv(ctx, owner, project, bad)
    details = {d["name"]: d["reason"] for d in refused.value.details or []}
    assert set(details) == {"line 3", "line 4", "line 5", "line 6", "line 7"}
    assert details["line 3"] == "2 fields; a row is kind,original,pseudonym"
    assert "'pt id' is not a kind" in details["line 4"]
    assert details["line 5"] == "the original is empty"
    assert details["line 6"] == "ptid original 'A1' is also on line 2"
    assert details["line 7"] == "ptid pseudonym 'P1' is also on line 2"
    assert refused.value.message.startswith("the table, line 3: 2 fields")
    assert "(5 rows refused in all); nothing was imported." in refused.value.message
    assert table(ctx, project) == set()
    assert audit(ctx, "deid.pseudonyms_changed") == []


def test_merge_adds_keeps_and_refuses_what_clashes_with_the_table(
    ctx: Context, make_project: Callable[..., str], owner: Any
) -> None:
    project = make_project()
    pseudonyms.import_csv(ctx, owner, project, TABLE)
    more = "ptid,4MR1,SUBJ-001\nptid,9XY,SUBJ-002\n"  # no header: rows from line 1
    report = pseudonyms.import_csv(ctx, owner, project, more, Mode.MERGE)
    assert (report.added, report.unchanged, report.total) == (1, 1, 3)
    clash = "ptid,4MR1,SUBJ-009\nptid,NEW,SUBJ-002\nptid,OK,SUBJ-003\n"
    with pytest.raises(Invalid) as refused:
        pseudonyms.import_csv(ctx, owner, project, clash, Mode.MERGE)
    assert refused.value.details == [
        {"name": "line 1", "reason": "ptid '4MR1' has the pseudonym 'SUBJ-001' already"},
        {"name": "line 2", "reason": "ptid pseudonym 'SUBJ-002' is another original's"},
    ]
    assert ("ptid", "OK", "SUBJ-003") not in table(ctx, project)  # all or nothing
    assert len(table(ctx, project)) == 3


def test_replace_makes_the_file_the_whole_table(
    ctx: Context, make_project: Callable[..., str], owner: Any
) -> None:
    project = make_project()
    pseudonyms.import_csv(ctx, owner, project, TABLE)
    # In replace mode a pseudonym may move to another original: the old rows go first.
    report = pseudonyms.import_csv(ctx, owner, project, "ptid,OTHER,SUBJ-001\n", Mode.REPLACE)
    assert (report.added, report.removed, report.total) == (1, 2, 1)
    assert table(ctx, project) == {("ptid", "OTHER", "SUBJ-001")}
    events = audit(ctx, "deid.pseudonyms_changed")
    assert [e.detail["mode"] for e in events] == ["merge", "replace"]


def test_export_round_trips_and_is_audited(
    ctx: Context, make_project: Callable[..., str], owner: Any
) -> None:
    project = make_project()
    pseudonyms.import_csv(ctx, owner, project, TABLE + 'ptname,"Doe, Jane",Subject^Two\n')
    text = pseudonyms.export_csv(ctx, owner, project)
    rows = list(csv.reader(io.StringIO(text)))
    assert rows == [
        ["kind", "original", "pseudonym"],
        ["ptid", "4MR1", "SUBJ-001"],
        ["ptname", "CompressedSamples^MR1", "Subject^One"],
        ["ptname", "Doe, Jane", "Subject^Two"],
    ]
    other = make_project()
    pseudonyms.import_csv(ctx, owner, other, text, Mode.REPLACE)
    assert table(ctx, other) == table(ctx, project)
    [event] = audit(ctx, "deid.pseudonyms_exported")
    assert (event.project, event.detail) == (project, {"rows": 3})


def test_clear(ctx: Context, make_project: Callable[..., str], owner: Any) -> None:
    project = make_project()
    pseudonyms.import_csv(ctx, owner, project, TABLE)
    assert pseudonyms.counts(ctx, owner, project) == {"ptid": 1, "ptname": 1}
    assert pseudonyms.clear(ctx, owner, project) == 2
    assert table(ctx, project) == set()
    assert audit(ctx, "deid.pseudonyms_changed")[-1].detail == {
        "rows": 0,
        "mode": "clear",
        "removed": 2,
    }


@pytest.mark.parametrize(
    ("role", "error"), [("member", Forbidden), ("collaborator", Forbidden), ("outsider", NotFound)]
)
def test_only_owners_manage_the_table(
    ctx: Context,
    make_project: Callable[..., str],
    users: dict[str, User],
    role: str,
    error: type[Exception],
) -> None:
    project = make_project()
    pseudonyms.import_csv(ctx, SYSTEM, project, TABLE)
    actor = actor_for(users[role])
    with pytest.raises(error):
        pseudonyms.import_csv(ctx, actor, project, "ptid,X,Y\n")
    with pytest.raises(error):
        pseudonyms.export_csv(ctx, actor, project)
    with pytest.raises(error):
        pseudonyms.clear(ctx, actor, project)
    assert len(table(ctx, project)) == 2
    assert audit(ctx, "deid.pseudonyms_exported") == []


def test_a_file_that_is_not_text_is_refused_by_name() -> None:
    with pytest.raises(Invalid, match=r"^map.csv is not UTF-8 text \(byte 0\)"):
        pseudonyms.decode(b"\xff\xfe\x00", source="map.csv")
    assert pseudonyms.decode("\ufeffptid,a,b\n".encode()) == "ptid,a,b\n"


def test_a_ctp_lookup_table_is_read_and_checked_alike(
    ctx: Context, make_project: Callable[..., str], owner: Any
) -> None:
    project = make_project()
    properties = (
        "# CTP's lookup table\n"
        "ptid/4MR1 = SUBJ-001\n"
        "ptname/CompressedSamples^MR1 = Subject^One\n"
        "ptid/with\\ space : SUBJ-002\n"
    )
    report = pseudonyms.import_csv(
        ctx, owner, project, properties.encode(), source="t.properties", form=Format.PROPERTIES
    )
    assert [(r.line, r.kind, r.status) for r in report.rows] == [
        (2, "ptid", "added"),
        (3, "ptname", "added"),
        (4, "ptid", "added"),
    ]
    assert ("ptid", "with space", "SUBJ-002") in table(ctx, project)
    # What CTP takes but a project's table does not: one pseudonym for two people.
    same = "ptid/A = P1\nptid/B = P1\n"
    with pytest.raises(Invalid) as refused:
        pseudonyms.parse(same, source="t.properties", form=Format.PROPERTIES)
    assert refused.value.details == [
        {"name": "line 2", "reason": "ptid pseudonym 'P1' is also on line 1"}
    ]
    with pytest.raises(Invalid, match=r"^t.properties, line 2: 'nokind' is not TYPE/value"):
        pseudonyms.parse(
            "ptid/A = P1\nnokind = P2\n", source="t.properties", form=Format.PROPERTIES
        )
    assert Format.of("Table.PROPERTIES") == Format.PROPERTIES and Format.of("t.csv") == Format.CSV
