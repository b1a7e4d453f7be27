"""Clinical records imported from CSV: the happy path, the row-by-row report, all or
nothing unless partial, and every kind of bad input."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select

from scandepot.access.actors import SYSTEM
from scandepot.catalog.access import AuditEvent, User
from scandepot.clinical import records
from scandepot.clinical.csv_import import ImportReport, Mode, Options, import_csv
from scandepot.clinical.records import Target
from scandepot.context import Context
from scandepot.errors import Forbidden, Invalid
from tests.clinical.world import actor, make_subjects, set_schemas

GOOD = (
    "subject,weight,age,diagnosis,smoker,diagnosis_date,notes\n"
    "S1,71.5,70,MCI,yes,2024-02-15,Referred by Dr Who\n"
    "S2,80,64,HC,0,,\n"
    "\n"
    "S3,,,AD,FALSE,2023-12-01,\n"
)


@pytest.fixture
def project(ctx: Context, make_project: Callable[..., str]) -> str:
    label = make_project()
    set_schemas(ctx, label)
    make_subjects(ctx, label, "S1", "S2", "S3")
    return label


def _problems(report: ImportReport) -> dict[int, list[str]]:
    return {r.row: [p.reason for p in r.problems] for r in report.rows if r.problems}


def test_happy_path(ctx: Context, project: str, users: dict[str, User]) -> None:
    report = import_csv(ctx, actor(users, "member"), project, GOOD.encode())
    assert report.written and report.delimiter == "," and report.schema_version == 1
    assert [(r.row, r.subject, r.status) for r in report.rows] == [
        (2, "S1", "created"),
        (3, "S2", "created"),
        (5, "S3", "created"),
    ]
    s1 = records.get(ctx, SYSTEM, Target(project, "S1"))
    assert s1.values == {
        "weight": 71.5,
        "age": 70,
        "diagnosis": "MCI",
        "smoker": True,
        "diagnosis_date": "2024-02-15",
        "notes": "Referred by Dr Who",
    }
    assert records.get(ctx, SYSTEM, Target(project, "S2")).values == {
        "weight": 80,
        "age": 64,
        "diagnosis": "HC",
        "smoker": False,
    }
    assert records.history(ctx, SYSTEM, Target(project, "S3"))[0].source == "import"
    # Again: nothing changes; then a merge that changes one value of one subject.
    again = import_csv(ctx, SYSTEM, project, GOOD.encode())
    assert {r.status for r in again.rows} == {"unchanged"}
    merged = import_csv(ctx, SYSTEM, project, b"subject,age\nS1,71\n")
    assert merged.rows[0].status == "changed"
    assert records.get(ctx, SYSTEM, Target(project, "S1")).values["weight"] == 71.5
    replaced = import_csv(
        ctx, SYSTEM, project, b"subject,diagnosis\nS1,AD\n", Options(mode=Mode.REPLACE)
    )
    assert replaced.rows[0].values == {"diagnosis": "AD"}
    assert records.get(ctx, SYSTEM, Target(project, "S1")).values == {"diagnosis": "AD"}
    with ctx.db.read() as db:
        events = db.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == "clinical.records_changed")
            .order_by(AuditEvent.id)
        ).all()
    assert [(e.target, e.detail) for e in events] == [
        ("S1, S2, S3", {"source": "import", "created": 3, "changed": 0, "deleted": 0}),
        ("S1", {"source": "import", "created": 0, "changed": 1, "deleted": 0}),
        ("S1", {"source": "import", "created": 0, "changed": 1, "deleted": 0}),
    ]


def test_mapping_bom_semicolons(ctx: Context, project: str) -> None:
    text = "\ufeffPatient;Gewicht;Diagnose\nS1;70.5;AD\ns2;61;HC\n"
    options = Options(
        subject_column="Patient", mapping={"Gewicht": "weight", "Diagnose": "diagnosis"}
    )
    report = import_csv(ctx, SYSTEM, project, text.encode(), options)
    assert report.written and report.delimiter == ";"
    assert records.get(ctx, SYSTEM, Target(project, "S2")).values == {
        "weight": 61,
        "diagnosis": "HC",
    }


def test_bad_rows_refuse_everything_unless_partial(ctx: Context, project: str) -> None:
    text = (
        "subject,weight,age,diagnosis,smoker,diagnosis_date\n"
        'S1,"71,5",70,MCI,yes,2024-02-15\n'  # decimal comma
        "S2,80,sixty,HC,maybe,15/02/2024\n"  # three wrong types
        "S3,60,40,flu,no,\n"  # not an allowed value
        "S9,60,40,AD,no,\n"  # no such subject
        "S1,60,40,AD,no,\n"  # S1 again
        ",60,40,AD,no,\n"  # no subject
        "S3,1,2,AD,no,,extra\n"  # S3 twice, and a cell too many
    )
    report = import_csv(ctx, SYSTEM, project, text.encode())
    assert not report.written
    problems = _problems(report)
    assert "row(s) 6" in problems[2][0] and "has a decimal comma" in problems[2][1]
    assert problems[3] == [
        "'sixty' is not an integer",
        "'maybe' is not a boolean (true/false, yes/no, 1/0)",
        "'15/02/2024' is not an ISO 8601 date (YYYY-MM-DD)",
    ]
    assert problems[4] == ["subject 'S3' is also on row(s) 8"]
    assert "no subject 'S9'" in problems[5][0]
    assert problems[7] == ["no subject label"]
    assert "7 cells; the header has 6" in problems[8][1]
    cells = {p.column: p.variable for p in report.rows[1].problems}
    assert cells == {"age": "age", "smoker": "smoker", "diagnosis_date": "diagnosis_date"}
    for label in ("S1", "S2", "S3"):
        with pytest.raises(Exception, match="No clinical record"):
            records.get(ctx, SYSTEM, Target(project, label))
    # A row failing the schema only (flu) is reported with its column.
    only = import_csv(ctx, SYSTEM, project, b"subject,diagnosis,age\nS1,flu,1\nS2,AD,2\n")
    assert not only.written and [r.status for r in only.rows] == ["refused", "not written"]
    assert only.rows[0].problems[0].column == "diagnosis"
    partial = import_csv(
        ctx, SYSTEM, project, b"subject,diagnosis,age\nS1,flu,1\nS2,AD,2\n", Options(partial=True)
    )
    assert partial.written and [r.status for r in partial.rows] == ["refused", "created"]
    assert records.get(ctx, SYSTEM, Target(project, "S2")).values == {"age": 2, "diagnosis": "AD"}


def test_required_missing_is_reported_by_column(ctx: Context, project: str) -> None:
    report = import_csv(ctx, SYSTEM, project, b"subject,age\nS1,3\n")
    assert report.rows[0].problems[0].variable == "diagnosis"
    assert report.rows[0].problems[0].reason == "required, and missing"


@pytest.mark.parametrize(
    ("data", "options", "message"),
    [
        (
            b"subject,weight,blood\nS1,1,A\n",
            Options(),
            "columns that are no variable of the schema: blood",
        ),
        (b"label,weight\nS1,1\n", Options(), "no 'subject' column"),
        (b"subject,weight,weight\nS1,1,2\n", Options(), "columns named more than once: weight"),
        (
            b"subject,w\nS1,1\n",
            Options(mapping={"w": "height"}),
            "variables the schema does not have: w -> height",
        ),
        (
            b"subject,w\nS1,1\n",
            Options(mapping={"x": "weight"}),
            "columns the file does not have: x",
        ),
        (
            b"subject,w,weight\nS1,1,2\n",
            Options(mapping={"w": "weight"}),
            "more than one column: weight",
        ),
        (b"subject,weight\n", Options(), "no rows"),
        (b"", Options(), "empty"),
        (b'subject,weight\nS1,"1\n', Options(), "Not CSV"),
        (
            "subject,notes\nS1,Caf\xe9 au lait\n".encode("latin-1"),
            Options(),
            "not UTF-8 text: byte 0xE9 on line 2",
        ),
        ("subject,notes\nS1,x\n".encode("utf-16"), Options(), "Save it as UTF-8"),
    ],
)
def test_files_refused_whole(
    ctx: Context, project: str, data: bytes, options: Options, message: str
) -> None:
    with pytest.raises(Invalid, match=message):
        import_csv(ctx, SYSTEM, project, data, options)


def test_unknown_columns_ignored_when_asked(ctx: Context, project: str) -> None:
    report = import_csv(
        ctx, SYSTEM, project, b"subject,diagnosis,blood\nS1,AD,A\n", Options(ignore_unknown=True)
    )
    assert report.written and report.ignored_columns == ["blood"]


def test_permissions_and_size(ctx: Context, project: str, users: dict[str, User]) -> None:
    with pytest.raises(Forbidden):
        import_csv(ctx, actor(users, "collaborator"), project, GOOD.encode())
    from scandepot.clinical import csv_values

    big = b"subject,notes\n" + b"S1," + b"x" * (csv_values.MAX_CSV_BYTES) + b"\n"
    with pytest.raises(Invalid, match="over 16 MiB"):
        import_csv(ctx, SYSTEM, project, big)


def test_numbers_out_of_range_are_refused_by_row(ctx: Context, project: str) -> None:
    """A number no JSON carries (1e400) and an integer Python will not read (5000 digits)
    are a row's problems, not a failed import."""
    text = f"subject,weight,age\nS1,1e400,70\nS2,80,{'9' * 5000}\n"
    report = import_csv(ctx, SYSTEM, project, text.encode())
    assert not report.written
    problems = _problems(report)
    assert problems[2] == ["'1e400' is out of a number's range"]
    assert problems[3] == ["'" + "9" * 40 + "…' has more than 40 digits"]
