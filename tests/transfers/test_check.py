"""The check before a transfer: every problem listed, nothing written when there is one."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from scandepot.access.actors import ANONYMOUS, SYSTEM
from scandepot.access.users import actor_for
from scandepot.archive import projects
from scandepot.archive.projects import ProjectSettings
from scandepot.catalog.archive import File, Session
from scandepot.catalog.pipelines import Job
from scandepot.catalog.transfers import Transfer, TransferKind
from scandepot.context import Context
from scandepot.dicom.synthetic import Study
from scandepot.errors import Conflict, Invalid, NotFound, Unauthorized
from scandepot.transfers import service
from scandepot.transfers.requests import Clash, Landing, TransferRequest
from tests.transfers.conftest import Archive


def request(archive: Archive, **fields: Any) -> TransferRequest:
    values: dict[str, Any] = {
        "kind": TransferKind.COPY,
        "source": archive.source,
        "destination": archive.dest,
        "sessions": ["E1"],
    }
    values.update(fields)
    return TransferRequest(**values)


def codes(ctx: Context, actor: Any, req: TransferRequest) -> list[str]:
    return [p.code for p in service.check(ctx, actor, req).problems]


def nothing_written(ctx: Context) -> None:
    with ctx.db.read() as db:
        assert db.scalar(select(func.count(Transfer.id))) == 0
        assert db.scalar(select(func.count(Job.id))) == 0


def test_access_is_checked_on_both_sides(
    ctx: Context, archive: Archive, users: dict[str, Any]
) -> None:
    archive.session("S1", "E1")
    member, collaborator = actor_for(users["member"]), actor_for(users["collaborator"])
    assert codes(ctx, member, request(archive)) == []
    # A collaborator reads the source but may not add to the destination.
    assert codes(ctx, collaborator, request(archive)) == ["access"]
    # A move takes an owner of the source.
    assert codes(ctx, member, request(archive, kind=TransferKind.MOVE)) == ["access"]
    assert codes(ctx, actor_for(users["owner"]), request(archive, kind=TransferKind.MOVE)) == []
    with pytest.raises(NotFound):
        service.check(ctx, actor_for(users["outsider"]), request(archive))
    with pytest.raises(Unauthorized):
        service.start(ctx, ANONYMOUS, request(archive))
    with pytest.raises(Conflict) as refused:
        service.start(ctx, collaborator, request(archive))
    assert refused.value.details and refused.value.details[0]["code"] == "access"
    nothing_written(ctx)


def test_label_clashes_stop_skip_or_merge(
    ctx: Context, archive: Archive, users: dict[str, Any]
) -> None:
    owner = actor_for(users["owner"])
    study = archive.session("S1", "E1", (1, 2))
    archive.session("S1", "E1", (5,), project=archive.dest, study=study)
    assert codes(ctx, owner, request(archive)) == ["label_clash"]
    skip = service.check(ctx, owner, request(archive, on_clash=Clash.SKIP))
    assert skip.ok and skip.sessions[0].action == "skip" and skip.warnings
    merge = service.check(ctx, owner, request(archive, on_clash=Clash.MERGE))
    assert merge.ok and merge.sessions[0].action == "merge"
    # Scan 5 is in both: a merge would clash on it.
    archive.session("S1", "E2", (1, 5), study=Study(PatientID="S1"))
    clash = codes(
        ctx,
        owner,
        request(archive, sessions=["E2"], session_map={"E2": "E1"}, on_clash=Clash.MERGE),
    )
    assert "uid_clash" in clash  # another study under the label there
    with pytest.raises(Conflict):
        service.start(ctx, owner, request(archive))
    nothing_written(ctx)


def test_scan_number_clash_in_a_merge(
    ctx: Context, archive: Archive, users: dict[str, Any]
) -> None:
    owner = actor_for(users["owner"])
    study = archive.session("S1", "E1", (1, 2))
    archive.session("S1", "E1", (2,), project=archive.dest, study=study)
    merge = service.check(ctx, owner, request(archive, on_clash=Clash.MERGE))
    assert [p.code for p in merge.problems] == ["scan_clash"]
    assert "2" in merge.problems[0].message
    leave_out = service.check(ctx, owner, request(archive, on_clash=Clash.MERGE, scans=["1"]))
    assert leave_out.ok


def test_uid_clash_says_invalid_modification_of_session_uid(
    ctx: Context, archive: Archive, users: dict[str, Any]
) -> None:
    owner = actor_for(users["owner"])
    archive.session("S1", "E1")
    archive.session("S1", "E1", (3,), project=archive.dest)  # another study, same label
    plan = service.check(ctx, owner, request(archive, on_clash=Clash.MERGE))
    assert [p.code for p in plan.problems] == ["uid_clash"]
    assert "Invalid modification of session UID" in plan.problems[0].message


def test_subject_creation_and_labels(ctx: Context, archive: Archive, users: dict[str, Any]) -> None:
    owner = actor_for(users["owner"])
    archive.session("S1", "E1")
    archive.session("S2", "E2")
    projects.update(ctx, SYSTEM, archive.dest, ProjectSettings(allow_subject_creation=False))
    assert codes(ctx, owner, request(archive)) == ["subject"]
    # Two sessions to one label; a bad label from a map; a rule with an unknown field.
    both = request(archive, sessions=["E1", "E2"], session_map={"E2": "E1"})
    assert "label_clash" in codes(ctx, owner, both)
    assert "label" in codes(ctx, owner, request(archive, session_map={"E1": "bad label!"}))
    with pytest.raises(Invalid, match="session_rule"):
        service.check(ctx, owner, request(archive, session_rule="{patient}"))
    with pytest.raises(Invalid, match="at least one"):
        service.check(ctx, owner, request(archive, sessions=[]))
    missing = service.check(
        ctx, owner, request(archive, sessions=["E1", "NOPE"], subjects=["GHOST"])
    )
    assert [p.code for p in missing.problems].count("not_found") == 2
    same = request(archive, destination=archive.source)
    assert "same_project" in codes(ctx, owner, same)


def test_landing_follows_the_destination_and_owners_may_override(
    ctx: Context, archive: Archive, users: dict[str, Any]
) -> None:
    archive.session("S1", "E1")
    projects.update(ctx, SYSTEM, archive.dest, ProjectSettings(upload_destination="prearchive"))
    member, owner = actor_for(users["member"]), actor_for(users["owner"])
    plan = service.check(ctx, member, request(archive))
    assert plan.ok and plan.landing == "prearchive" and plan.warnings
    assert codes(ctx, member, request(archive, landing=Landing.ARCHIVE)) == ["landing"]
    assert service.check(ctx, owner, request(archive, landing=Landing.ARCHIVE)).landing == "archive"
    assert codes(ctx, member, request(archive, with_resources=True)) == ["landing"]


def test_counts_are_those_of_the_chosen_scans(
    ctx: Context, archive: Archive, users: dict[str, Any]
) -> None:
    owner = actor_for(users["owner"])
    archive.session("S1", "E1", (1, 2, 3))
    plan = service.check(ctx, owner, request(archive, scans=["1", "series 3"]))
    assert [s.label for s in plan.sessions[0].scans] == ["1", "3"]
    with ctx.db.read() as db:
        sizes = db.scalar(select(func.sum(File.size)))
        assert db.scalar(select(func.count(Session.id))) == 1
    assert plan.files == 6 and 0 < plan.bytes < (sizes or 0)
    assert service.check(ctx, owner, request(archive, scans=["SERIES*"])).files == 9
