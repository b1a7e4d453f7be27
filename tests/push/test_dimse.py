"""The C-STORE sender against Orthanc 1.10's DICOM server: instances arrive (Orthanc's REST
API says so), C-FIND at IMAGE level finds them when Orthanc takes C-FIND from our calling
AE, C-ECHO checks it, and a port nobody listens on is unreachable with the reason."""

from __future__ import annotations

import dataclasses
import re

import pytest

from scandepot.dicom.synthetic import Series, Study
from scandepot.push.dimse import DimsePeer, DimseSender, contexts_for, status_text, stored
from scandepot.push.sending import Unreachable
from tests.orthanc_peer import StartOrthanc, free_port
from tests.push.outgoing import study_batch

pytestmark = pytest.mark.interop

CALLING = "PUSHER"
# What the sender says of an association the peer did not take (push/dimse.py).
NOT_TAKEN = "rejected the association|aborted the association|without answering"


def test_instances_arrive_and_c_find_finds_them(start_orthanc: StartOrthanc) -> None:
    # Orthanc answers C-FIND only to the modalities it knows (C-STORE from anyone).
    orthanc = start_orthanc(dicom=True, modalities={CALLING: [CALLING, "127.0.0.1", 104]})
    assert orthanc.dicom_port is not None
    study = Study()
    batch = study_batch(3, study=study) + study_batch(2, study=study, series=Series(2))
    sender = DimseSender(DimsePeer(orthanc.ae_title, "127.0.0.1", orthanc.dicom_port, CALLING))
    try:
        sender.check()
        sent = sender.send(batch)
        assert [s.sop_uid for s in sent] == [o.sop_uid for o in batch]
        assert all(s.stored for s in sent), sent
        [found, none] = sender.held([study.StudyInstanceUID, "1.2.3.4"], subject="", session="")
    finally:
        sender.close()
    assert found.sop_uids == {o.sop_uid for o in batch}
    assert none.sop_uids == frozenset()
    arrived = set()
    for orthanc_id in orthanc.get("/instances").json():
        tags = orthanc.get(f"/instances/{orthanc_id}/simplified-tags").json()
        arrived.add(tags["SOPInstanceUID"])
    assert arrived == {o.sop_uid for o in batch}


def test_c_find_refused_to_an_unknown_calling_ae_says_so(start_orthanc: StartOrthanc) -> None:
    orthanc = start_orthanc(dicom=True)
    assert orthanc.dicom_port is not None
    sender = DimseSender(DimsePeer(orthanc.ae_title, "127.0.0.1", orthanc.dicom_port, CALLING))
    batch = study_batch(1)
    assert sender.send(batch)[0].stored
    with pytest.raises(Unreachable, match=f"C-FIND from calling AE {CALLING}"):
        sender.held([batch[0].study_uid], subject="", session="")


def test_a_closed_port_is_unreachable_with_the_reason() -> None:
    sender = DimseSender(DimsePeer("NOBODY", "127.0.0.1", free_port(), CALLING, timeout_s=5))
    with pytest.raises(Unreachable, match="NOBODY@127.0.0.1:.*Connection refused"):
        sender.check()
    with pytest.raises(Unreachable, match="Connection refused"):
        sender.send(study_batch(1))


def test_contexts_and_statuses() -> None:
    batch = study_batch(2)
    [context] = contexts_for(batch)
    assert context.abstract_syntax == batch[0].sop_class_uid
    assert context.transfer_syntax == [batch[0].transfer_syntax]
    assert status_text(0xA701) == "C-STORE status 0xA701 (out of resources)"
    assert status_text(0x0122) == "C-STORE status 0x0122 (SOP class not supported)"


def test_a_rejected_association_is_unreachable_with_the_peers_reason(
    start_orthanc: StartOrthanc,
) -> None:
    orthanc = start_orthanc(dicom=True, DicomCheckCalledAet=True)
    assert orthanc.dicom_port is not None
    sender = DimseSender(DimsePeer("NOT_ORTHANC", "127.0.0.1", orthanc.dicom_port, CALLING))
    # Orthanc 1.10 under load has been seen to end such an association without its
    # A-ASSOCIATE-RJ (the connection closed, or aborted): unreachable either way, with
    # what it did; the reason is told whenever it gives one, which it does at a retry.
    said = []
    for _ in range(3):
        with pytest.raises(Unreachable) as refused:
            sender.send(study_batch(1))
        said.append(str(refused.value))
        if "rejected" in said[-1]:
            break
    assert re.search("rejected the association.*Called AE title", said[-1]), said
    assert all(re.search(NOT_TAKEN, words) for words in said), said
    with pytest.raises(Unreachable, match=NOT_TAKEN):
        sender.check()
    assert orthanc.get("/instances").json() == []


def test_warnings_are_stored_and_failures_are_not() -> None:
    for status in (0x0000, 0x0001, 0x0107, 0x0116, 0xB000, 0xB006, 0xB007):
        assert stored(status), hex(status)
    for status in (0xA700, 0xA900, 0xC000, 0x0122, 0x0117):
        assert not stored(status), hex(status)


def test_a_sop_class_the_peer_does_not_take_fails_the_batch_for_good(
    start_orthanc: StartOrthanc,
) -> None:
    """Orthanc takes no unknown SOP class: the association carries no context, and trying
    again would not change that, so the instances fail at once, not as unreachable."""
    orthanc = start_orthanc(dicom=True)
    assert orthanc.dicom_port is not None
    batch = [
        dataclasses.replace(o, sop_class_uid="1.2.826.0.1.3680043.8.498.99") for o in study_batch(2)
    ]
    sender = DimseSender(DimsePeer(orthanc.ae_title, "127.0.0.1", orthanc.dicom_port, CALLING))
    answers = sender.send(batch)
    assert [a.stored or a.temporary for a in answers] == [False, False]
    assert all("accepted none of the presentation contexts" in a.reason for a in answers)
    assert orthanc.get("/instances").json() == []
