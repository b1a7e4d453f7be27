"""Series metadata: made once and kept, never stale, made when a session is archived;
BulkDataURIs under the root the request came to."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from scandepot.access.actors import SYSTEM
from scandepot.context import Context
from scandepot.dicom.synthetic import Series, Study, mr_instance, to_bytes
from scandepot.query.scope import Scope
from scandepot.retrieve import metadata, warming
from scandepot.retrieve.instances import locate
from tests.retrieve.archived import archive

ROOT = "https://example.org/dicomweb/"


def kept_files(ctx: Context) -> list[Path]:
    return sorted((ctx.store.data_dir / metadata.FOLDER).rglob("*.json"))


@pytest.fixture
def series(ctx: Context, make_project: Callable[..., str]) -> tuple[Study, Series]:
    make_project("private", "M")
    study, series = Study(PatientID="M1"), Series()
    archive(ctx, "M", [mr_instance(study, series, n, rows=40, columns=40) for n in (1, 2, 3)])
    return study, series


def test_made_once_then_kept(ctx: Context, series: tuple[Study, Series]) -> None:
    study, one = series
    uids = (study.StudyInstanceUID, one.SeriesInstanceUID)
    assert kept_files(ctx) == []
    first = metadata.metadata(ctx, Scope(SYSTEM), ROOT, *uids)
    assert len(kept_files(ctx)) == 1
    found = json.loads(first)
    assert [i["00200013"]["Value"] for i in found] == [[1], [2], [3]]
    pixel = found[0]["7FE00010"]
    assert pixel == {
        "vr": "OW",
        "BulkDataURI": f"{ROOT}studies/{uids[0]}/series/{uids[1]}/instances/"
        f"{found[0]['00080018']['Value'][0]}/bulkdata/7FE00010",
    }
    assert found[0]["00100020"] == {"vr": "LO", "Value": ["M1"]}
    # The instances are not read again: gone from the disk, the series' metadata is kept.
    for located in locate(ctx, Scope(SYSTEM), *uids):
        located.path.unlink()
    again = metadata.metadata(ctx, Scope(SYSTEM), "http://other/dicomweb/projects/M/", *uids)
    assert again == first.replace(ROOT.encode(), b"http://other/dicomweb/projects/M/")


def test_a_changed_series_is_made_again(ctx: Context, series: tuple[Study, Series]) -> None:
    study, one = series
    uids = (study.StudyInstanceUID, one.SeriesInstanceUID)
    assert len(json.loads(metadata.metadata(ctx, Scope(SYSTEM), ROOT, *uids))) == 3
    archive(ctx, "M", [mr_instance(study, one, 4, rows=40, columns=40)])
    found = json.loads(metadata.metadata(ctx, Scope(SYSTEM), ROOT, *uids))
    assert [i["00200013"]["Value"] for i in found] == [[1], [2], [3], [4]]
    assert len(kept_files(ctx)) == 2
    study_level = json.loads(metadata.metadata(ctx, Scope(SYSTEM), ROOT, uids[0]))
    assert study_level == found


def test_made_when_a_session_is_archived(ctx: Context, make_project: Callable[..., str]) -> None:
    warmer = warming.install(ctx)
    make_project("private", "W")
    study, one, two = Study(), Series(SeriesNumber=1), Series(SeriesNumber=2)
    items = [mr_instance(study, s, n, rows=8, columns=8) for s in (one, two) for n in (1, 2)]
    archive(ctx, "W", items)
    warmer.wait()
    assert len(kept_files(ctx)) == 2  # one per series, before any request
    found = json.loads(metadata.metadata(ctx, Scope(SYSTEM), ROOT, study.StudyInstanceUID))
    assert len(found) == 4 and len(kept_files(ctx)) == 2


def test_values_pydicom_cannot_read_are_sent_empty(
    ctx: Context, make_project: Callable[..., str]
) -> None:
    """A Decimal String "ab.cd" (as broken senders write) is announced without its value;
    the rest of the instance and of the series is sent."""
    make_project("private", "X")
    study, series = Study(), Series()
    ds = mr_instance(study, series, 1, rows=8, columns=8)
    ds.add_new(0x00181050, "DS", "77.77")  # Spatial Resolution
    ds.add_new(0x00200012, "IS", "7777")  # Acquisition Number
    broken = to_bytes(ds).replace(b"77.77 ", b"ab.cd ").replace(b"7777", b"x1y2")
    archive(ctx, "X", [broken, mr_instance(study, series, 2, rows=8, columns=8)])
    uids = (study.StudyInstanceUID, series.SeriesInstanceUID)
    first, second = json.loads(metadata.metadata(ctx, Scope(SYSTEM), ROOT, *uids))
    assert first["00181050"] == {"vr": "DS"} and first["00200012"] == {"vr": "IS"}
    assert first["00100020"] == second["00100020"] == {"vr": "LO", "Value": ["PAT001"]}


def test_requests_while_it_is_made_wait_for_it_rather_than_make_it_again(
    ctx: Context, series: tuple[Study, Series], monkeypatch: pytest.MonkeyPatch
) -> None:
    study, one = series
    found = locate(ctx, Scope(SYSTEM), study.StudyInstanceUID, one.SeriesInstanceUID)
    started, release = threading.Event(), threading.Event()
    made: list[str] = []
    real = metadata.instance_json

    def slow(located: Any) -> dict[str, Any]:
        made.append(located.sop_instance)
        started.set()
        release.wait(10)
        return real(located)

    monkeypatch.setattr(metadata, "instance_json", slow)
    answers: list[bytes] = []
    first = threading.Thread(target=lambda: answers.append(metadata.kept(ctx, found)))
    first.start()
    assert started.wait(10)  # the first is making it now
    second = threading.Thread(target=lambda: answers.append(metadata.kept(ctx, found)))
    second.start()
    release.set()
    first.join(10)
    second.join(10)
    assert len(answers) == 2 and answers[0] == answers[1]
    assert sorted(made) == sorted(f.sop_instance for f in found)  # each instance read once
