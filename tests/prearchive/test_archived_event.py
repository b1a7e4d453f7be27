"""What "session archived" names for a merge: the scans it added or changed, nothing when
it added nothing. Auto-launched pipelines run on exactly these scans."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from scandepot.access.actors import SYSTEM
from scandepot.archive import projects
from scandepot.archive.projects import ProjectSettings
from scandepot.context import Context
from scandepot.dicom.synthetic import Series, Study, mr_instance
from scandepot.events import SessionArchived
from scandepot.prearchive import worker
from tests.helpers import write_study

pytestmark = pytest.mark.interop

Send = Callable[..., subprocess.CompletedProcess[str]]
STUDY = Study(StudyDescription="xnat://PILOT/s1/e1")
T1 = Series(1, "T1w")


@pytest.fixture
def archived(ctx: Context, make_project: Callable[..., str]) -> list[SessionArchived]:
    ctx.settings.prearchive_quiet_s = 0
    make_project("private", label="PILOT", upload_destination="archive")
    seen: list[SessionArchived] = []
    ctx.events.subscribe(SessionArchived, seen.append)
    return seen


def send(storescu: Send, ctx: Context, *paths: Path) -> None:
    assert storescu(*paths).returncode == 0
    assert worker.run_once(ctx) >= 1


def changed_copy(tmp_path: Path, name: str, seed: int, uid: str) -> Path:
    path = tmp_path / name
    again = mr_instance(STUDY, T1, 1, rows=16, columns=16, seed=seed, SOPInstanceUID=uid)
    again.save_as(path, enforce_file_format=True)
    return path


def test_a_merge_names_only_the_scans_it_added_or_changed(
    ctx: Context, archived: list[SessionArchived], storescu: Send, tmp_path: Path
) -> None:
    one = mr_instance(STUDY, T1, 1, rows=16, columns=16, seed=1)
    one.save_as(tmp_path / "one.dcm", enforce_file_format=True)
    send(storescu, ctx, tmp_path / "one.dcm")
    send(storescu, ctx, *write_study(tmp_path / "b", STUDY, [Series(2, "T2w")]))
    # A differing copy of an archived instance, kept: the merge adds nothing.
    send(storescu, ctx, changed_copy(tmp_path, "kept.dcm", 7, one.SOPInstanceUID))
    projects.update(ctx, SYSTEM, "PILOT", ProjectSettings(conflict_policy="replace"))
    send(storescu, ctx, changed_copy(tmp_path, "replaced.dcm", 8, one.SOPInstanceUID))
    assert [(e.scans, e.merged) for e in archived] == [
        (("1",), False),
        (("2",), True),
        ((), True),
        (("1",), True),
    ]
