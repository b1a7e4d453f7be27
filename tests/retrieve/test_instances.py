"""locate(): which archived instances a scope may retrieve, where their files are, in
order; nothing of a project the scope may not read."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from scandepot.access.actors import ANONYMOUS, SYSTEM
from scandepot.access.permissions import Action
from scandepot.access.users import actor_for
from scandepot.catalog.access import User
from scandepot.context import Context
from scandepot.dicom.synthetic import Series, Study, mr_instance, to_bytes
from scandepot.errors import BadRequest, NotFound
from scandepot.ingest.receive import Source, receive
from scandepot.query.scope import Scope, open_scope
from scandepot.retrieve.instances import locate
from tests.retrieve.archived import archive


def actor(ctx: Context, login: str) -> Any:
    with ctx.db.read() as db:
        user = db.scalar(select(User).where(User.login == login))
    assert user is not None
    return actor_for(user)


@pytest.fixture
def study(ctx: Context, make_project: Callable[..., str]) -> Study:
    """Two series of three instances in project A (private), archived out of order."""
    project = make_project("private", "A")
    made = Study(PatientID="R1")
    second, first = Series(SeriesNumber=2), Series(SeriesNumber=1)
    items = [mr_instance(made, s, n, rows=8, columns=8) for s in (second, first) for n in (3, 1, 2)]
    archive(ctx, project, items)
    return made


def test_ordered_by_series_then_instance_with_paths(ctx: Context, study: Study) -> None:
    found = locate(ctx, Scope(SYSTEM), study.StudyInstanceUID)
    assert [(f.series_number, f.instance_number) for f in found] == [
        (1, 1), (1, 2), (1, 3), (2, 1), (2, 2), (2, 3)
    ]  # fmt: skip
    for one in found:
        assert one.path.is_file() and one.path.stat().st_size == one.size
        assert one.transfer_syntax == "1.2.840.10008.1.2.1"
        assert one.sop_class == "1.2.840.10008.5.1.4.1.1.4"
    series = locate(ctx, Scope(SYSTEM), study.StudyInstanceUID, found[3].series)
    assert [f.sop_instance for f in series] == [f.sop_instance for f in found[3:]]
    (one,) = locate(ctx, Scope(SYSTEM), *[found[4].study, found[4].series, found[4].sop_instance])
    assert one == found[4]


def test_unreadable_is_not_found_like_missing(
    ctx: Context, study: Study, users: dict[str, User]
) -> None:
    for scope in (Scope(actor(ctx, "outsider")), Scope(ANONYMOUS)):
        with pytest.raises(NotFound):
            locate(ctx, scope, study.StudyInstanceUID)
    with pytest.raises(NotFound) as missing:
        locate(ctx, Scope(SYSTEM), "1.2.3.4")
    assert missing.value.field == "study"
    assert locate(ctx, Scope(actor(ctx, "member")), study.StudyInstanceUID)


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("1.2.x",), "study"),
        (("1.2.3", "../etc"), "series"),
        (("1.2.3", "1.2.4", "1.2.3 OR 1=1"), "instance"),
        (("1." + "2" * 70,), "study"),
    ],
)
def test_malformed_uids_name_the_parameter(ctx: Context, args: tuple[str, ...], field: str) -> None:
    with pytest.raises(BadRequest) as refused:
        locate(ctx, Scope(SYSTEM), *args)
    assert refused.value.field == field and refused.value.status == 400


def test_staged_instances_are_not_retrievable(
    ctx: Context, make_project: Callable[..., str]
) -> None:
    project = make_project("private", "S")
    study = Study()
    with ctx.store.stage() as staged:
        staged.write(to_bytes(mr_instance(study, Series(), 1, rows=8, columns=8)))
        receive(ctx, staged, Source("upload", project=project))
    with pytest.raises(NotFound):
        locate(ctx, Scope(SYSTEM), study.StudyInstanceUID)


def test_site_wide_sends_an_instance_of_two_projects_once(
    ctx: Context, make_project: Callable[..., str]
) -> None:
    study, series = Study(PatientID="TWICE"), Series()
    items = [mr_instance(study, series, n, rows=8, columns=8) for n in (1, 2)]
    first, second = make_project("private", "ONE"), make_project("private", "TWO")
    archive(ctx, first, items)
    archive(ctx, second, items[:1])
    site = locate(ctx, Scope(SYSTEM), study.StudyInstanceUID)
    assert [f.instance_number for f in site] == [1, 2]
    assert "/ONE/" in str(site[0].path)  # the copy of the project made first
    with ctx.db.read() as db:
        two = open_scope(db, SYSTEM, "TWO", Action.READ)
    only = locate(ctx, two, study.StudyInstanceUID)
    assert [f.instance_number for f in only] == [1] and "/TWO/" in str(only[0].path)
