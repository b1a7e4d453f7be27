"""A push to a second `scandepot serve`, a process of its own, as an XNAT destination
through its import service: a project and an account on it, the destination with Basic
credentials (the secret stored encrypted), the Basic profile on the way out. The session
lands under the labels the push files it under, every instance once and nothing
identifying, counted through the far side's API; the final check verifies each
instance; the subject's clinical record is a file on the far subject. The far server
stopped half-way and started again: the push goes on and ends the same."""

from __future__ import annotations

import hashlib
import io
import json
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

import httpx
import pytest
from pydicom import dcmread

from scandepot.access.actors import SYSTEM
from scandepot.catalog.pipelines import JobStatus
from scandepot.clinical import records
from scandepot.clinical.records import Target
from scandepot.push import deliver, follow, secrets
from scandepot.push.requests import PushRequest, request_push
from scandepot.push.sending import Outgoing, Sent
from scandepot.push.xnat import XnatSender
from tests.clinical.world import set_schemas
from tests.push.conftest import World, run_pushes
from tests.push.test_push_orthanc import IDENTIFYING
from tests.serve_process import PASSWORD, Serve, serve_env

pytestmark = [
    pytest.mark.interop,
    # The process is what these prove; the push's statements run on both catalogs in
    # the other push tests.
    pytest.mark.parametrize("backend", ["sqlite"], indirect=True),
]

LOGIN, SECRET = "pusher", "far-pusher-password"
NOTES = "Jane Doe, referred by Dr Who"


@pytest.fixture(scope="module")
def far(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    """The far scandepot, with an account that projects are given to."""
    folder = tmp_path_factory.mktemp("far")
    server = Serve(folder, serve_env(folder / "data"))
    try:
        made = httpx.post(
            f"{server.url}/api/v1/users",
            json={"login": LOGIN, "password": SECRET},
            auth=("admin", PASSWORD),
        )
        assert made.status_code == 201, made.text
        yield server
    finally:
        server.stop()


def far_project(far: Serve, name: str) -> str:
    admin = ("admin", PASSWORD)
    made = httpx.post(
        f"{far.url}/api/v1/projects", json={"id": name, "upload_destination": "archive"}, auth=admin
    )
    assert made.status_code == 201, made.text
    role = httpx.put(
        f"{far.url}/api/v1/projects/{name}/users/{LOGIN}", json={"role": "member"}, auth=admin
    )
    assert role.status_code == 200, role.text
    return name


def _push(world: World, far: Serve, project: str, **fields: Any) -> int:
    world.destination(
        kind="xnat",
        url=far.url,
        remote_project=project,
        auth="basic",
        username=LOGIN,
        secret=secrets.encrypt(world.ctx, SECRET),
        **{"max_attempts": 10, **fields},
    )
    asked = PushRequest(destination="node", sessions=["E1"])
    return request_push(world.ctx, world.actor(), world.project, asked).id


def _ran(world: World, push_id: int) -> None:
    ended = run_pushes(world.ctx)
    report = follow.get(world.ctx, world.actor(), push_id).push.report
    assert ended == [JobStatus.SUCCEEDED], json.dumps(report)[:3000]


def _far_get(far: Serve, path: str, **params: str) -> Any:
    answer = httpx.get(f"{far.url}{path}", params=params, auth=(LOGIN, SECRET), timeout=30)
    assert answer.status_code == 200, answer.text
    return answer


def _rows(far: Serve, path: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = _far_get(far, path, format="json").json()["ResultSet"]["Result"]
    return rows


def _landed(world: World, far: Serve, project: str, push_id: int) -> str:
    """Every instance of E1 once in one far session, under the pushed Patient ID and the
    session label made of it and the new Study Instance UID, nothing identifying; the
    push verified each. The far subject's label."""
    view = follow.get(world.ctx, world.actor(), push_id)
    assert view.status == "succeeded", view.message
    [subject] = [r["label"] for r in _rows(far, f"/data/projects/{project}/subjects")]
    [session] = [r["label"] for r in _rows(far, f"/data/projects/{project}/experiments")]
    base = f"/data/projects/{project}/subjects/{subject}/experiments/{session}"
    files = _rows(far, f"{base}/scans/ALL/files")
    assert len(files) == 6
    study = world.studies["E1"]
    sops = []
    for row in files:
        ds = dcmread(io.BytesIO(_far_get(far, row["URI"]).content))
        sops.append(str(ds.SOPInstanceUID))
        for keyword, original in IDENTIFYING.items():
            assert str(ds.get(keyword, "")) != original, keyword
        assert ds.StudyInstanceUID != study.StudyInstanceUID
        assert ds.SeriesInstanceUID not in world.series_uids()
        assert ds.PatientID == subject
        tail = hashlib.sha256(str(ds.StudyInstanceUID).encode()).hexdigest()[:8]
        assert session == f"{subject}_{tail}"
    assert len(set(sops)) == 6
    counts = view.push.report["counts"]
    assert counts["verified"] == 6 and counts["failed"] == 0, view.message
    assert "6 of 6 instance(s) verified" in view.message
    return str(subject)


def test_a_session_and_its_clinical_record_land_on_the_far_scandepot(
    world: World, far: Serve
) -> None:
    project = far_project(far, "FAR1")
    set_schemas(world.ctx, world.project)
    records.put(
        world.ctx, SYSTEM, Target(world.project, "S1"), {"diagnosis": "MCI", "notes": NOTES}
    )
    records.put(world.ctx, SYSTEM, Target(world.project, session="E1"), {"mmse": 27})
    push_id = _push(world, far, project, clinical="xnat")
    _ran(world, push_id)
    subject = _landed(world, far, project, push_id)

    view = follow.get(world.ctx, world.actor(), push_id)
    assert view.push.report["clinical"] == {"subjects": 1, "sent": 1, "failed": []}
    path = f"/data/projects/{project}/subjects/{subject}/resources/CLINICAL/files"
    [listed] = _rows(far, path)
    assert listed["Name"] == "clinical.json"
    raw = _far_get(far, f"{path}/clinical.json").content
    record = json.loads(raw)
    assert record["patient_id"] == subject
    assert record["values"] == {"diagnosis": "MCI"}  # the identifying notes stayed
    assert record["sessions"][0]["values"] == {"mmse": 27}
    assert NOTES.encode() not in raw and b"MRN123" not in raw


def test_the_far_server_stopped_half_way_and_started_again(
    world: World, far: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After the first batch the far server stops (SIGTERM) and starts again on its
    port and data a moment later; the push goes on where it was, each instance carried
    there once."""
    project = far_project(far, "FAR2")
    monkeypatch.setattr(deliver, "BATCH", 2)
    world.ctx.settings.push_retry_s = 0.2
    carried: Counter[str] = Counter()
    restarted: list[threading.Thread] = []
    real = XnatSender.send

    def send_then_stop(self: XnatSender, batch: Sequence[Outgoing]) -> list[Sent]:
        answers = real(self, batch)
        carried.update(a.sop_uid for a in answers if a.stored)
        if not restarted:
            far.stop()
            restarted.append(threading.Thread(target=far.start))
            restarted[0].start()
        return answers

    monkeypatch.setattr(XnatSender, "send", send_then_stop)
    push_id = _push(world, far, project, concurrency=1)
    _ran(world, push_id)
    restarted[0].join(timeout=90)
    assert far.healthy()
    _landed(world, far, project, push_id)
    assert len(carried) == 6 and set(carried.values()) == {1}
    runs = follow.get(world.ctx, world.actor(), push_id).push.report["runs"]
    assert runs[-1]["retried"] >= 2 and runs[-1]["rounds"] >= 2
