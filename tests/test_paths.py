"""The two data paths of the structure issue, followed call by call: one C-STORE instance
to an archived file, one session downloaded as tar. Along each, no call stack enters a
package of scandepot, leaves it for another, and comes back into it: a path that does is
a call against the layers (by a callback, a hook, an import inside a function) that the
import graph of tests/test_layers.py cannot see."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from fastapi.testclient import TestClient

from scandepot.context import Context
from scandepot.dicom.synthetic import Series, Study
from scandepot.prearchive import worker
from tests.helpers import ADMIN, API, write_study

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def _package(frame: FrameType) -> str | None:
    name = frame.f_globals.get("__name__", "")
    if not isinstance(name, str) or not name.startswith("scandepot."):
        return None
    return name.split(".")[1]


class Trace:
    """Every call stack's scandepot packages, top to bottom, consecutive frames of one
    package taken as one; records the first stack that enters a package twice."""

    def __init__(self) -> None:
        self.reentered: list[list[str]] = []
        self.seen: set[str] = set()
        self._lock = threading.Lock()
        self._kinds: set[tuple[str, ...]] = set()

    def __call__(self, frame: FrameType, event: str, _arg: Any) -> None:
        if event != "call" or _package(frame) is None:
            return
        stack: list[str] = []
        where: list[str] = []
        current: FrameType | None = frame
        while current is not None:
            package = _package(current)
            if package is not None and (not stack or stack[-1] != package):
                stack.append(package)
                where.append(f"{current.f_globals['__name__']}.{current.f_code.co_name}")
            current = current.f_back
        stack.reverse()
        with self._lock:
            self.seen.update(stack)
            if len(set(stack)) != len(stack) and tuple(stack) not in self._kinds:
                self._kinds.add(tuple(stack))
                self.reentered.append(list(reversed(where)))


@contextmanager
def traced() -> Iterator[Trace]:
    trace = Trace()
    threading.setprofile(trace)
    sys.setprofile(trace)
    try:
        yield trace
    finally:
        sys.setprofile(None)
        threading.setprofile(None)  # type: ignore[arg-type]


@pytest.mark.interop
def test_one_instance_by_c_store_to_an_archived_file(
    ctx: Context,
    make_project: Callable[..., str],
    storescu: Callable[..., subprocess.CompletedProcess[str]],
    tmp_path: Path,
) -> None:
    make_project("private", label="PILOT", upload_destination="archive")
    ctx.settings.prearchive_quiet_s = 0
    files = write_study(tmp_path, Study(StudyDescription="xnat://PILOT/S1/E1"), [Series()], 1)
    with traced() as trace:
        assert storescu(*files).returncode == 0
        assert worker.run_once(ctx) == 1
    assert {"dimse", "ingest", "prearchive", "archive", "storage", "catalog"} <= trace.seen
    assert trace.reentered == [], "\n".join(" > ".join(r) for r in trace.reentered)


def test_one_session_downloaded_as_tar(
    client: TestClient, make_project: Callable[..., str]
) -> None:
    make_project("private", label="P1")
    base = f"{API}/projects/P1"
    assert client.post(f"{base}/subjects", json={"label": "S1"}, auth=ADMIN).status_code == 201
    session = {"label": "E1", "subject": "S1"}
    assert client.post(f"{base}/sessions", json=session, auth=ADMIN).status_code == 201
    scan = {"id": "1", "type": "T1w"}
    assert client.post(f"{base}/sessions/E1/scans", json=scan, auth=ADMIN).status_code == 201
    files = f"{base}/sessions/E1/scans/1/resources/DICOM/files"
    assert client.put(f"{files}/a.dcm", content=b"a", auth=ADMIN).status_code == 201
    with traced() as trace, TestClient(client.app) as fresh:  # threads made while traced
        r = fresh.get(f"{base}/sessions/E1/download", params={"format": "tar"}, auth=ADMIN)
    assert r.status_code == 200
    assert {"api", "export", "archive", "access", "catalog"} <= trace.seen
    assert trace.reentered == [], "\n".join(" > ".join(r) for r in trace.reentered)
