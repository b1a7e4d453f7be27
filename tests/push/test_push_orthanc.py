"""Pushes to Orthanc 1.10 by STOW-RS, the reference node: every instance arrives once,
de-identified, and the push ends verified by QIDO-RS, also when Orthanc is down at the
start, goes down half-way, or answers 503 to some requests. A small proxy in front of
Orthanc counts what each STOW-RS request carried (Orthanc keeps one instance per SOP
Instance UID, so its own count would hide an instance sent twice) and fails on demand."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from scandepot.catalog.pipelines import JobStatus
from scandepot.push import deliver, follow
from scandepot.push.requests import PushRequest, request_push
from tests.orthanc_peer import Orthanc, StartOrthanc, free_port
from tests.push.conftest import PATIENT, World, run_pushes
from tests.push.proxy import Proxy

pytestmark = pytest.mark.interop

# What the stored instances carry that identifies someone (tests/helpers.write_study).
IDENTIFYING = {
    **PATIENT,
    "PatientBirthDate": "19800101",
    "InstitutionName": "Imaging Centre",
    "ReferringPhysicianName": "Ref^Doc",
    "StudyDate": "20240301",
}


def orthanc_tags(orthanc: Orthanc) -> dict[str, dict[str, Any]]:
    """What Orthanc holds: SOP Instance UID -> its simplified tags."""
    held = {}
    for orthanc_id in orthanc.get("/instances").json():
        tags = orthanc.get(f"/instances/{orthanc_id}/simplified-tags").json()
        held[tags["SOPInstanceUID"]] = tags
    return held


@pytest.fixture
def orthanc(start_orthanc: StartOrthanc) -> Orthanc:
    return start_orthanc()


@pytest.fixture
def proxy(orthanc: Orthanc) -> Iterator[Proxy]:
    """In front of Orthanc; not listening until the test starts it."""
    found = Proxy(free_port(), f"http://127.0.0.1:{orthanc.http_port}")
    yield found
    found.stop()


def _push(world: World, proxy: Proxy, **fields: Any) -> int:
    world.destination(url=proxy.url, **{"max_attempts": 10, **fields})
    asked = PushRequest(destination="node", sessions=["E1"])
    return request_push(world.ctx, world.actor(), world.project, asked).id


def _arrived_once(world: World, orthanc: Orthanc, proxy: Proxy, push_id: int) -> None:
    """Every instance on Orthanc, carried there once, with nothing identifying; the
    push succeeded and its report says every instance was verified."""
    view = follow.get(world.ctx, world.actor(), push_id)
    assert view.status == "succeeded", view.message
    held = orthanc_tags(orthanc)
    assert len(held) == 6 and set(proxy.stored) == set(held)
    assert set(proxy.stored.values()) == {1}
    study = world.studies["E1"]
    for tags in held.values():
        for keyword, original in IDENTIFYING.items():
            assert tags.get(keyword, "") != original, keyword
        assert tags["PatientName"] != PATIENT["PatientName"]
        assert tags["PatientID"] != PATIENT["PatientID"]
        assert tags["StudyInstanceUID"] != study.StudyInstanceUID
        assert tags["SeriesInstanceUID"] not in world.series_uids()
    counts = view.push.report["counts"]
    assert counts["verified"] == 6 and counts["failed"] == 0
    assert "6 of 6 instance(s) verified" in view.message


def test_a_session_arrives_on_orthanc_once_and_de_identified(
    world: World, orthanc: Orthanc, proxy: Proxy
) -> None:
    proxy.start()
    push_id = _push(world, proxy)
    assert run_pushes(world.ctx) == [JobStatus.SUCCEEDED]
    _arrived_once(world, orthanc, proxy, push_id)
    originals = {s.StudyInstanceUID for s in world.studies.values()}
    assert not originals & set(orthanc.get("/studies").json())


def test_a_destination_down_at_the_start_is_waited_for(
    world: World, orthanc: Orthanc, proxy: Proxy
) -> None:
    world.ctx.settings.push_retry_s = 0.2
    push_id = _push(world, proxy)
    threading.Timer(1.0, proxy.start).start()  # nothing listens on its port until then
    assert run_pushes(world.ctx) == [JobStatus.SUCCEEDED]
    _arrived_once(world, orthanc, proxy, push_id)


def test_503_answers_are_retried_until_every_instance_is_there(
    world: World, orthanc: Orthanc, proxy: Proxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(deliver, "BATCH", 2)
    proxy.fail = lambda n: n in {1, 2, 4}
    proxy.start()
    push_id = _push(world, proxy)
    assert run_pushes(world.ctx) == [JobStatus.SUCCEEDED]
    assert proxy.refused_503 == 3
    _arrived_once(world, orthanc, proxy, push_id)
    runs = follow.get(world.ctx, world.actor(), push_id).push.report["runs"]
    assert runs[-1]["retried"] >= 4 and runs[-1]["rounds"] >= 2


def test_orthanc_going_down_half_way_and_coming_back(
    world: World,
    orthanc: Orthanc,
    proxy: Proxy,
    start_orthanc: StartOrthanc,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After the first batch Orthanc stops; a new Orthanc on the same storage takes its
    place a moment later, and the push goes on where it was."""
    monkeypatch.setattr(deliver, "BATCH", 2)
    world.ctx.settings.push_retry_s = 0.2
    storage = str(orthanc.folder / "storage")

    def restart() -> None:
        _exited(orthanc)  # its index is free only once its process is gone
        again = start_orthanc(StorageDirectory=storage, IndexDirectory=storage)
        proxy.upstream = f"http://127.0.0.1:{again.http_port}"
        replaced.append(again)

    def stop_after_first(number: int) -> None:
        if number == 1:
            with pytest.raises(httpx.TransportError):  # its answer may not come back
                orthanc.post("/tools/shutdown", timeout=5)
                _gone(orthanc)
            threading.Thread(target=restart).start()

    replaced: list[Orthanc] = []
    proxy.after = stop_after_first
    proxy.start()
    push_id = _push(world, proxy, concurrency=1)
    assert run_pushes(world.ctx) == [JobStatus.SUCCEEDED]
    assert len(replaced) == 1
    _arrived_once(world, replaced[0], proxy, push_id)
    runs = follow.get(world.ctx, world.actor(), push_id).push.report["runs"]
    assert runs[-1]["retried"] >= 2


def _exited(orthanc: Orthanc) -> None:
    """Wait until the process of ``orthanc`` (the one reading its configuration) ends."""
    config = str(orthanc.folder / "orthanc.json").encode()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        running = False
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                running = running or config in cmdline.read_bytes()
            except OSError:  # ended meanwhile
                continue
        if not running:
            return
        time.sleep(0.1)
    raise AssertionError("Orthanc did not exit")


def _gone(orthanc: Orthanc) -> None:
    """Wait until Orthanc no longer answers (raises the transport error it then gives)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        orthanc.get("/system", timeout=1)
        time.sleep(0.1)
    raise AssertionError("Orthanc did not stop")


def test_a_push_by_c_store_arrives_once_and_is_found_by_c_find(
    world: World, start_orthanc: StartOrthanc
) -> None:
    """The same push to Orthanc's DICOM server: C-STORE, and C-FIND at IMAGE level before
    and after (Orthanc answers C-FIND only to the calling AE titles it knows)."""
    calling = "PUSHER"
    reference = start_orthanc(dicom=True, modalities={calling: [calling, "127.0.0.1", 104]})
    world.destination(
        kind="dimse",
        url=None,
        ae_title=reference.ae_title,
        host="127.0.0.1",
        port=reference.dicom_port,
        calling_ae=calling,
    )
    asked = PushRequest(destination="node", sessions=["E1"])
    push_id = request_push(world.ctx, world.actor(), world.project, asked).id
    assert run_pushes(world.ctx) == [JobStatus.SUCCEEDED]
    view = follow.get(world.ctx, world.actor(), push_id)
    assert view.push.report["counts"]["verified"] == 6, view.message
    held = orthanc_tags(reference)
    assert len(held) == 6
    for tags in held.values():
        for keyword, original in IDENTIFYING.items():
            assert tags.get(keyword, "") != original, keyword
    # Orthanc recorded six new instances, no more.
    changes = reference.get("/changes", params={"limit": 1000}).json()["Changes"]
    assert sum(c["ChangeType"] == "NewInstance" for c in changes) == 6
