"""The DICOMweb sender against Orthanc 1.10 with its DICOMweb plug-in: instances sent by
STOW-RS arrive (Orthanc's REST API says so), QIDO-RS finds them, and what Orthanc refuses
fails alone, with its reason. Peers that fail on purpose (5xx) are small servers here."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest

from scandepot.dicom.synthetic import Series, Study
from scandepot.errors import Invalid
from scandepot.push.http_peer import HttpPeer
from scandepot.push.sending import Unreachable
from scandepot.push.stow import StowSender
from tests.orthanc_peer import Orthanc, StartOrthanc, free_port
from tests.push.outgoing import study_batch
from tests.push.peers import http_peer

pytestmark = pytest.mark.interop


def orthanc_instances(orthanc: Orthanc) -> dict[str, dict[str, str]]:
    """What Orthanc holds: SOP Instance UID -> its simplified tags."""
    held = {}
    for orthanc_id in orthanc.get("/instances").json():
        tags = orthanc.get(f"/instances/{orthanc_id}/simplified-tags").json()
        held[tags["SOPInstanceUID"]] = tags
    return held


def test_a_batch_arrives_in_one_request_and_is_found_by_qido(start_orthanc: StartOrthanc) -> None:
    orthanc = start_orthanc()
    study = Study()
    batch = study_batch(4, study=study) + study_batch(2, study=study, series=Series(2))
    sender = StowSender(HttpPeer(url=orthanc.dicomweb_url))
    try:
        sender.check()
        sent = sender.send(batch)
        assert [s.sop_uid for s in sent] == [o.sop_uid for o in batch]
        assert all(s.stored for s in sent), sent
        held = orthanc_instances(orthanc)
        assert set(held) == {o.sop_uid for o in batch}
        assert {tags["StudyInstanceUID"] for tags in held.values()} == {study.StudyInstanceUID}
        [found, none] = sender.held([study.StudyInstanceUID, "1.2.3.4"], subject="", session="")
        assert found.study_uid == study.StudyInstanceUID
        assert found.sop_uids == {o.sop_uid for o in batch}
        assert none.sop_uids == frozenset()
        # Sent again: Orthanc says it has them, and still holds each once.
        assert all(s.stored for s in sender.send(batch[:2]))
        assert len(orthanc.get("/instances").json()) == len(batch)
    finally:
        sender.close()


def test_a_part_orthanc_cannot_read_fails_alone(start_orthanc: StartOrthanc) -> None:
    orthanc = start_orthanc()
    [good] = study_batch(1)
    bad = replace(good, sop_uid="1.2.3.4.5", data=b"not a DICOM instance" * 20)
    sender = StowSender(HttpPeer(url=orthanc.dicomweb_url))
    try:
        refused, stored = sender.send([bad, good])
    finally:
        sender.close()
    assert stored.stored and stored.sop_uid == good.sop_uid
    assert not refused.stored and not refused.temporary
    assert "400" in refused.reason
    assert set(orthanc_instances(orthanc)) == {good.sop_uid}


def test_an_instance_orthanc_drops_is_not_taken_for_stored(
    start_orthanc: StartOrthanc, tmp_path: Path
) -> None:
    """A filter that fails: Orthanc answers 200 without listing the instance."""
    script = tmp_path / "fail.lua"
    script.write_text("function ReceivedInstanceFilter(dicom, origin, info)\n error('no')\nend\n")
    orthanc = start_orthanc(LuaScripts=[str(script)])
    sender = StowSender(HttpPeer(url=orthanc.dicomweb_url))
    try:
        sent = sender.send(study_batch(2))
    finally:
        sender.close()
    assert [s.stored for s in sent] == [False, False]
    assert all("not in the peer's answer" in s.reason for s in sent)
    assert orthanc.get("/instances").json() == []


def test_wrong_credentials_are_refused_with_401(start_orthanc: StartOrthanc) -> None:
    orthanc = start_orthanc(AuthenticationEnabled=True, RegisteredUsers={"push": "s3cret-pw"})
    wrong = HttpPeer(url=orthanc.dicomweb_url, auth="basic", username="push", secret="nope")
    sender = StowSender(wrong)
    try:
        with pytest.raises(Invalid, match="credentials were refused.*401"):
            sender.check()
        with pytest.raises(Invalid, match="STOW-RS .*credentials were refused.*401"):
            sender.send(study_batch(1))  # for every instance alike: the push stops
    finally:
        sender.close()
    right = StowSender(replace(wrong, secret="s3cret-pw"))
    try:
        right.check()
        assert all(s.stored for s in right.send(study_batch(2)))
    finally:
        right.close()


def test_a_closed_port_is_unreachable() -> None:
    sender = StowSender(HttpPeer(url=f"http://127.0.0.1:{free_port()}/dicom-web"))
    try:
        with pytest.raises(Unreachable, match="onnection refused|ConnectError"):
            sender.check()
        with pytest.raises(Unreachable):
            sender.send(study_batch(1))
        with pytest.raises(Unreachable):
            sender.held(["1.2.3"], subject="", session="")
    finally:
        sender.close()


def test_5xx_is_unreachable_and_4xx_fails_the_batch() -> None:
    answers = {"/ok/studies": 503, "/gone/studies": 413}

    def answer(
        method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        status = answers[path.split("?")[0]]
        return status, {"Content-Type": "text/plain"}, b"busy, try later"

    with http_peer(answer) as peer:
        busy = StowSender(HttpPeer(url=f"{peer.url}/ok"))
        with pytest.raises(Unreachable, match="HTTP 503.*busy, try later"):
            busy.send(study_batch(1))
        with pytest.raises(Unreachable, match="503"):
            busy.check()
        busy.close()
        big = StowSender(HttpPeer(url=f"{peer.url}/gone"))
        sent = big.send(study_batch(2))
        big.close()
        post = [s for s in peer.seen if s[0] == "POST"][0]
    assert [s.stored for s in sent] == [False, False]
    assert all(not s.temporary and "HTTP 413" in s.reason for s in sent)
    assert post[2]["content-type"].startswith('multipart/related; type="application/dicom"')
    assert post[2]["accept"] == "application/dicom+json"


def test_failed_sop_sequence_gives_each_instance_its_reason() -> None:
    batch = study_batch(3)

    def answer(
        method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        def item(uid: str, **extra: object) -> dict[str, object]:
            return {"00081155": {"vr": "UI", "Value": [uid]}, **extra}

        module = {
            "00081198": {
                "vr": "SQ",
                "Value": [
                    item(batch[0].sop_uid, **{"00081197": {"vr": "US", "Value": [0xA700]}}),
                    item(batch[1].sop_uid, **{"00081197": {"vr": "US", "Value": [0x0122]}}),
                ],
            },
            "00081199": {"vr": "SQ", "Value": [item(batch[2].sop_uid)]},
        }
        return 202, {"Content-Type": "application/dicom+json"}, json.dumps(module).encode()

    with http_peer(answer) as peer:
        sender = StowSender(HttpPeer(url=peer.url))
        full, unsupported, stored = sender.send(batch)
        sender.close()
    assert full.temporary and "0xA700 (out of resources)" in full.reason
    assert not unsupported.temporary and "0x0122 (SOP class not supported)" in unsupported.reason
    assert stored.stored


def test_one_sender_sends_from_several_threads_at_once(start_orthanc: StartOrthanc) -> None:
    orthanc = start_orthanc()
    study = Study()
    batches = [study_batch(5, study=study, series=Series(n)) for n in range(1, 9)]
    sender = StowSender(HttpPeer(url=orthanc.dicomweb_url, connections=4))
    try:
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(sender.send, batches))
        [held] = sender.held([study.StudyInstanceUID], subject="", session="")
    finally:
        sender.close()
    sent = {o.sop_uid for batch in batches for o in batch}
    assert all(s.stored for answer in answers for s in answer)
    assert held.sop_uids == sent
    assert set(orthanc_instances(orthanc)) == sent


def test_a_server_that_caps_its_pages_is_asked_until_nothing_new_comes() -> None:
    """PS3.18 lets a server answer fewer results than the limit asks, without a Warning
    header: the final check asks again from the next offset until a page is empty."""
    uids = [f"1.2.826.0.1.3680043.8.498.{n}" for n in range(1, 6)]

    def answer(
        method: str, path: str, _h: dict[str, str], _b: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        offset = int(path.partition("offset=")[2].partition("&")[0] or 0)
        page = [{"00080018": {"vr": "UI", "Value": [u]}} for u in uids[offset : offset + 2]]
        return 200, {"Content-Type": "application/dicom+json"}, json.dumps(page).encode()

    with http_peer(answer) as server:
        sender = StowSender(HttpPeer(url=server.url))
        try:
            [held] = sender.held(["1.2.3"], subject="S", session="E")
        finally:
            sender.close()
    assert held.sop_uids == frozenset(uids)
