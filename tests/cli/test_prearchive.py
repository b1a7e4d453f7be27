"""How ``scandepot prearchive`` shows staged sessions."""

from __future__ import annotations

from scandepot.catalog.prearchive import StagedSession, Status
from scandepot.cli.prearchive import _line
from scandepot.prearchive.operations import StagedView


def test_a_missing_label_is_not_printed_as_none() -> None:
    staged = StagedSession(
        id=7,
        project_key="",
        StudyInstanceUID="1.2.3",
        subject=None,
        session=None,
        status=Status.READY,
        scans=[],
    )
    line = _line(StagedView(staged, files=0, size=0))
    assert "None" not in line
    assert line.split("\t")[2:5] == ["(unassigned)", "(no subject)", "(no session)"]
