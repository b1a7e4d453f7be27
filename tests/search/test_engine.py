"""The search service: criteria trees to one SQL query, under the one permission check."""

from __future__ import annotations

from typing import Any

import pytest

from scandepot.access.actors import ANONYMOUS, SYSTEM, Actor
from scandepot.access.users import actor_for
from scandepot.catalog.access import User
from scandepot.context import Context
from scandepot.errors import BadRequest
from scandepot.search import engine
from scandepot.search.criteria import (
    Comparison,
    CriteriaSet,
    Criterion,
    FieldRef,
    Method,
    Search,
)
from tests.search.world import World, build

MR = "xnat:mrSessionData"


@pytest.fixture
def world(ctx: Context, make_project: Any) -> World:
    return build(ctx, make_project)


def _actor(users: dict[str, User], name: str) -> Actor:
    return ANONYMOUS if name == "anonymous" else actor_for(users[name])


def crit(field: str, how: str, value: str = "") -> Criterion:
    return Criterion(FieldRef.parse(field), Comparison(how), value)


def run(ctx: Context, search: Search, actor: Actor = SYSTEM) -> engine.Result:
    return engine.run(ctx, actor, search)


def column(result: engine.Result, header: str) -> list[str]:
    index = result.headers.index(header)
    return [row[index] for row in result.rows]


def sessions_where(ctx: Context, *items: Any, method: Method = Method.AND) -> list[str]:
    search = Search(MR, (FieldRef(MR, "SESSION_ID"),), CriteriaSet(method, tuple(items)))
    return column(run(ctx, search), "session_id")


def test_default_columns_and_the_type_of_session(ctx: Context, world: World) -> None:
    result = run(ctx, Search(MR, where=CriteriaSet(items=(crit(f"{MR}/PROJECT", "=", "ALPHA"),))))
    assert result.headers == ["session_id", "subject_id", "project", "label", "date", "modality"]
    # a2 is a CT session: not an MR one.
    assert result.rows == [
        [world.sessions["a1"], world.subjects["s1"], "ALPHA", "a1", "2020-01-10", "MR"],
        [world.sessions["a3"], world.subjects["s2"], "ALPHA", "a3", "2022-03-03", "MR"],
    ]
    ct = run(ctx, Search("xnat:ctSessionData", (FieldRef("xnat:ctSessionData", "LABEL"),)))
    assert ct.rows == [["a2"]]
    every = run(ctx, Search("xnat:imageSessionData", (FieldRef("xnat:imageSessionData", "label"),)))
    assert sorted(r[0] for r in every.rows) == ["a1", "a2", "a3", "b1", "c1"]


def test_and_or_nested(ctx: Context, world: World) -> None:
    either = CriteriaSet(
        Method.OR, (crit(f"{MR}/DATE", "<", "2021-01-01"), crit(f"{MR}/LABEL", "LIKE", "a3%"))
    )
    found = sessions_where(ctx, crit(f"{MR}/PROJECT", "=", "ALPHA"), either)
    assert found == world.ids("a1", "a3")
    found = sessions_where(
        ctx, crit(f"{MR}/LABEL", "=", "b1"), crit(f"{MR}/LABEL", "=", "c1"), method=Method.OR
    )
    assert found == world.ids("b1", "c1")
    both = CriteriaSet(
        Method.AND, (crit(f"{MR}/SCANNER", "=", "SCAN1"), crit(f"{MR}/PROJECT", "=", "BETA"))
    )
    found = sessions_where(ctx, both, crit(f"{MR}/LABEL", "=", "c1"), method=Method.OR)
    assert found == world.ids("b1", "c1")


@pytest.mark.parametrize(
    ("field", "how", "value", "expected"),
    [
        ("DATE", "=", "01/10/2020", ["a1", "b1"]),  # xnatpy's MM/DD/YYYY
        ("DATE", "!=", "2020-01-10", ["a3", "c1"]),
        ("DATE", "<=", "2020-01-10", ["a1", "b1", "c1"]),
        ("DATE", ">", "2020-01-10", ["a3"]),
        ("DATE", ">=", "20220303", ["a3"]),
        ("FIELD_STRENGTH", "<", "2", ["a3"]),
        ("LABEL", "LIKE", "A%", ["a1", "a3"]),  # LIKE ignores case, as XNAT's does
        ("LABEL", "LIKE", "*1", ["a1", "b1", "c1"]),  # '*' is '%'
        ("LABEL", "NOT LIKE", "%1", ["a3"]),
        ("SCANNER", "IS NULL", "", ["a3"]),
        ("SCANNER", "IS NOT NULL", "", ["a1", "b1", "c1"]),
        ("xnat:subjectData/AGE", ">=", "50", ["b1", "c1"]),
        ("xnat:subjectData/demographics/gender", "=", "female", ["a3", "b1"]),
        ("xnat:projectData/ID", "=", "GAMMA", ["c1"]),
        ("DATE", "LIKE", "2020%", ["a1", "b1"]),
    ],
)
def test_comparisons(
    ctx: Context, world: World, field: str, how: str, value: str, expected: list[str]
) -> None:
    name = field if "/" in field and ":" in field.split("/")[0] else f"{MR}/{field}"
    assert sessions_where(ctx, crit(name, how, value)) == world.ids(*expected)


def test_fields_of_elements_above_are_named_after_them(ctx: Context, world: World) -> None:
    columns = (
        FieldRef(MR, "label"),
        FieldRef("xnat:subjectData", "SUBJECT_LABEL"),
        FieldRef("xnat:projectData", "NAME"),
    )
    where = CriteriaSet(items=(crit(f"{MR}/LABEL", "=", "a1"),))
    result = run(ctx, Search(MR, columns, where))
    assert result.headers == ["label", "xnat_subjectdata_subject_label", "xnat_projectdata_name"]
    assert result.rows == [["a1", "s1", "ALPHA"]]


def test_scans_subjects_and_projects(ctx: Context, world: World) -> None:
    scan = "xnat:mrScanData"
    where = CriteriaSet(
        items=(crit(f"{scan}/TYPE", "LIKE", "T1%"), crit(f"{MR}/PROJECT", "!=", "BETA"))
    )
    columns = (FieldRef(scan, "ID"), FieldRef(scan, "TYPE"), FieldRef(MR, "LABEL"))
    result = run(ctx, Search(scan, columns, where))
    assert result.headers == ["id", "type", "xnat_mrsessiondata_label"]
    assert result.rows == [["1", "T1w", "a1"], ["1", "T1w_mprage", "c1"]]

    subject = "xnat:subjectData"
    where = CriteriaSet(items=(crit(f"{subject}/GENDER_TEXT", "=", "male"),))
    result = run(ctx, Search(subject, where=where))
    assert result.headers == ["subjectid", "subject_label", "project", "gender_text", "age"]
    assert result.rows == [
        [world.subjects["s1"], "s1", "ALPHA", "male", "30"],
        [world.subjects["u1"], "u1", "GAMMA", "male", "61"],
    ]
    projects = run(ctx, Search("xnat:projectData"))
    assert [r[0] for r in projects.rows] == ["ALPHA", "BETA", "GAMMA"]


@pytest.mark.parametrize(
    ("actor", "visible"),
    [
        ("anonymous", ["c1"]),
        ("outsider", ["a1", "a3", "c1"]),  # a member of ALPHA only: BETA does not exist
        ("collaborator", ["a1", "a3", "b1", "c1"]),
        ("admin", ["a1", "a3", "b1", "c1"]),
    ],
)
def test_what_the_caller_may_not_read_is_never_found(
    ctx: Context, world: World, users: dict[str, User], actor: str, visible: list[str]
) -> None:
    who = _actor(users, actor)
    search = Search(MR, (FieldRef(MR, "LABEL"),))
    assert [r[0] for r in run(ctx, search, who).rows] == visible
    # Not by a criterion that names it either.
    named = Search(
        MR, (FieldRef(MR, "LABEL"),), CriteriaSet(items=(crit(f"{MR}/PROJECT", "=", "BETA"),))
    )
    assert [r[0] for r in run(ctx, named, who).rows] == [v for v in visible if v == "b1"]
    subjects = run(ctx, Search("xnat:subjectData"), who)
    projects_seen = {row[2] for row in subjects.rows}
    assert ("BETA" in projects_seen) == ("b1" in visible)


@pytest.mark.parametrize(
    ("search", "message"),
    [
        (Search("xnat:fooData"), "Unknown element 'xnat:fooData'"),
        (Search(MR, (FieldRef(MR, "NOPE"),)), "Unknown field 'xnat:mrSessionData/NOPE'"),
        (Search(MR, (FieldRef("xnat:barData", "ID"),)), "Unknown element 'xnat:barData'"),
        (
            Search("xnat:subjectData", (FieldRef(MR, "LABEL"),)),
            "Fields of 'xnat:mrSessionData' cannot be used in a search of 'xnat:subjectData'",
        ),
        (
            Search(MR, where=CriteriaSet(items=(crit(f"{MR}/DATE", "<", "yesterday"),))),
            "'yesterday' is not a date, as xnat:mrSessionData/DATE needs",
        ),
        (
            Search(MR, where=CriteriaSet(items=(crit("xnat:subjectData/AGE", ">", "old"),))),
            "'old' is not a whole number",
        ),
    ],
)
def test_unknown_names_are_refused_by_name(ctx: Context, search: Search, message: str) -> None:
    with pytest.raises(BadRequest, match=message.replace("(", r"\(")):
        run(ctx, search)


def test_unknown_comparison() -> None:
    from scandepot.search.criteria import comparison

    assert comparison(" like ", "x") is Comparison.LIKE
    assert comparison("IS", "NULL") is Comparison.IS_NULL
    assert comparison("is not", "null") is Comparison.IS_NOT_NULL
    assert comparison("<>", "1") is Comparison.NOT_EQUAL
    with pytest.raises(BadRequest, match="Unknown comparison 'BETWEEN'"):
        comparison("BETWEEN", "1")


def test_types_follow_the_listings_rule(ctx: Context, world: World) -> None:
    from scandepot.access.actors import SYSTEM as system
    from scandepot.archive import scans, sessions
    from scandepot.archive.scans import ScanCreate
    from scandepot.archive.sessions import SessionCreate

    sessions.create(ctx, system, "GAMMA", SessionCreate(label="c2", subject="u1", modality="PT/MR"))
    scans.create(ctx, system, "GAMMA", "c2", ScanCreate(id="7"))
    sessions.create(ctx, system, "GAMMA", SessionCreate(label="c3", subject="u1"))
    scans.create(ctx, system, "GAMMA", "c3", ScanCreate(id="1"))

    def labels(name: str, field: str = "LABEL") -> list[str]:
        return [r[0] for r in run(ctx, Search(name, (FieldRef(name, field),))).rows]

    assert labels("xnat:petmrSessionData") == ["c2"]
    assert labels("xnat:otherDicomSessionData") == ["c3"]  # no modality at all
    assert "c2" not in labels(MR) and "c3" not in labels(MR)
    # A scan without a Modality is of its session's type when the session has one.
    assert labels("xnat:mrScanData", "SESSION_LABEL") == ["a1", "a1", "b1", "c1"]
    assert labels("xnat:otherDicomScanData", "SESSION_LABEL") == ["c2", "c3"]
    assert len(labels("xnat:imageScanData", "SESSION_LABEL")) == 6


def test_keywords_are_words(ctx: Context, world: World) -> None:
    from scandepot.archive import projects
    from scandepot.archive.projects import ProjectSettings

    projects.update(ctx, SYSTEM, "GAMMA", ProjectSettings(keywords=["brain", 'say "hi"']))
    p = "xnat:projectData"

    def ids(*items: Criterion) -> list[list[str]]:
        search = Search(p, (FieldRef(p, "ID"), FieldRef(p, "KEYWORDS")), CriteriaSet(items=items))
        return run(ctx, search).rows

    assert ids(crit(f"{p}/KEYWORDS", "=", "brain")) == [["GAMMA", 'brain say "hi"']]
    assert ids(crit(f"{p}/KEYWORDS", "=", 'say "hi"')) == [["GAMMA", 'brain say "hi"']]
    assert ids(crit(f"{p}/KEYWORDS", "=", "bra")) == []
    assert [r[0] for r in ids(crit(f"{p}/KEYWORDS", "IS NULL"))] == ["ALPHA", "BETA"]


def test_thousands_of_alternatives(ctx: Context, world: World) -> None:
    """pyxnat's Collection.where ORs one SUBJECT_ID criterion per subject found."""
    subject = "xnat:subjectData"
    wanted = [world.subjects["s2"], world.subjects["u1"]]
    ids = [f"SD_X{n:06d}" for n in range(5000)] + wanted
    where = CriteriaSet(Method.OR, tuple(crit(f"{subject}/SUBJECT_ID", "=", i) for i in ids))
    result = run(ctx, Search(subject, (FieldRef(subject, "SUBJECT_ID"),), where))
    assert [r[0] for r in result.rows] == wanted


def test_thousands_of_criteria_of_any_kind(ctx: Context, world: World) -> None:
    patterns = [f"zz{n}%" for n in range(3000)] + ["a3%"]
    where = CriteriaSet(Method.OR, tuple(crit(f"{MR}/LABEL", "LIKE", p) for p in patterns))
    assert sessions_where(ctx, where) == world.ids("a3")
    where = CriteriaSet(Method.AND, tuple(crit(f"{MR}/LABEL", "!=", f"x{n}") for n in range(3000)))
    assert sessions_where(ctx, where) == world.ids("a1", "a3", "b1", "c1")


def test_custom_fields_of_subjects(ctx: Context, world: World) -> None:
    from scandepot.archive import subjects
    from scandepot.archive.subjects import SubjectFields

    subjects.update(ctx, SYSTEM, "ALPHA", "s2", SubjectFields(fields={"grant": "R01"}))
    subjects.update(ctx, SYSTEM, "GAMMA", "u1", SubjectFields(fields={"grant": "K99"}))
    subject, field = "xnat:subjectData", "XNAT_SUBJECTDATA_FIELD_MAP=grant"
    where = CriteriaSet(items=(crit(f"{subject}/{field}", "LIKE", "R%"),))
    found = run(
        ctx, Search(subject, (FieldRef(subject, "SUBJECT_LABEL"), FieldRef(subject, field)), where)
    )
    assert found.headers == ["subject_label", "xnat_subjectdata_field_map_grant"]
    assert found.rows == [["s2", "R01"]]
    # From a session search, as a field of the subject above it.
    where = CriteriaSet(items=(crit(f"{subject}/{field}", "=", "K99"),))
    found = run(ctx, Search(MR, (FieldRef(MR, "LABEL"), FieldRef(subject, field)), where))
    assert found.headers == ["label", "xnat_subjectdata_xnat_subjectdata_field_map_grant"]
    assert found.rows == [["c1", "K99"]]
    with pytest.raises(BadRequest, match="Unknown field"):
        run(ctx, Search(subject, (FieldRef(subject, "XNAT_SUBJECTDATA_FIELD_MAP=../x"),)))


def test_what_pyxnat_prints_a_subject_with(ctx: Context, world: World) -> None:
    subject = "xnat:subjectData"
    names = ["PROJECT", "SUBJECT_ID", "INSERT_DATE", "INSERT_USER", "GENDER_TEXT"]
    names += ["HANDEDNESS_TEXT", "SES", "ADD_IDS", "RACE", "ETHNICITY", "SUBJECT_LABEL"]
    where = CriteriaSet(items=(crit(f"{subject}/SUBJECT_LABEL", "=", "s1"),))
    found = run(ctx, Search(subject, tuple(FieldRef(subject, n) for n in names), where))
    assert found.headers == [n.lower() for n in names]
    row = dict(zip(found.headers, found.rows[0], strict=True))
    assert row["subject_label"] == "s1" and row["handedness_text"] == row["race"] == ""


def test_counts_of_sessions_by_type(ctx: Context, world: World) -> None:
    p = "xnat:projectData"
    names = ("ID", "PROJ_MR_COUNT", "PROJ_CT_COUNT", "PROJECT_ACCESS", "PROJECT_OWNERS")
    found = run(ctx, Search(p, tuple(FieldRef(p, n) for n in names)))
    assert found.rows == [
        ["ALPHA", "2", "1", "private", ""],
        ["BETA", "1", "0", "private", ""],
        ["GAMMA", "1", "0", "public", ""],
    ]
    where = CriteriaSet(items=(crit(f"{p}/PROJ_MR_COUNT", ">", "1"),))
    assert run(ctx, Search(p, (FieldRef(p, "ID"),), where)).rows == [["ALPHA"]]
