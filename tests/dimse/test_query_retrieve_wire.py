"""Query/retrieve spoken to by pynetdicom in this process, and PDU by PDU over a raw
socket for what a well-behaved SCU never sends at once (a C-FIND and its C-CANCEL)."""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable
from io import BytesIO

import pytest
from pydicom import Dataset, config, dcmread
from pydicom.datadict import dictionary_VR, keyword_dict
from pydicom.dataelem import DataElement
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE, build_role, evt
from pynetdicom.association import Association
from pynetdicom.events import Event
from pynetdicom.sop_class import (
    MRImageStorage,
    PatientRootQueryRetrieveInformationModelFind,
    PatientRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
)

from scandepot.access import users
from scandepot.access.actors import SYSTEM
from scandepot.access.users import UserUpdate
from scandepot.context import Context
from scandepot.dimse import Receiver
from scandepot.dimse.messages import command_set, encode_data_set
from tests.dimse.conftest import World
from tests.ingest.test_dimse_wire import associate_rq, read_pdu

STUDY_FIND = StudyRootQueryRetrieveInformationModelFind


def associate(receiver: Receiver, *contexts: str, calling: str = "WS_OWNER") -> Association:
    ae = AE(ae_title=calling)
    for uid in contexts:
        ae.add_requested_context(uid)
    assoc = ae.associate("127.0.0.1", receiver.port, ae_title="SCANDEPOT")
    assert assoc.is_established
    return assoc


def statuses(assoc: Association, identifier: Dataset, model: str) -> list[int]:
    found = [int(status.Status) for status, _ in assoc.send_c_find(identifier, model)]
    assoc.release()
    return found


def test_a_disabled_account_s_title_may_not_query(
    ctx: Context, world: World, receiver: Receiver
) -> None:
    users.update(ctx, SYSTEM, "outsider", UserUpdate(enabled=False))
    ae = AE(ae_title="WS_OUTSIDER")
    ae.add_requested_context(STUDY_FIND)
    ae.add_requested_context(MRImageStorage)
    assoc = ae.associate("127.0.0.1", receiver.port, ae_title="SCANDEPOT")
    assert assoc.is_established  # it may still send (C-STORE)
    assert [c.abstract_syntax for c in assoc.accepted_contexts] == [MRImageStorage]
    [rejected] = assoc.rejected_contexts
    assert (rejected.abstract_syntax, rejected.result) == (STUDY_FIND, 0x01)  # user rejection
    assoc.release()


def test_find_without_a_level_fails(world: World, receiver: Receiver) -> None:
    identifier = Dataset()
    identifier.PatientID = "*"
    assoc = associate(receiver, STUDY_FIND)
    assert statuses(assoc, identifier, STUDY_FIND) == [0xA900]


@pytest.mark.parametrize("level", ["PATIENT", "FRAME", ""])
def test_find_at_a_level_the_model_has_not_fails(
    world: World, receiver: Receiver, level: str
) -> None:
    identifier = Dataset()
    identifier.QueryRetrieveLevel = level
    identifier.PatientID = ""
    assoc = associate(receiver, STUDY_FIND)
    assert statuses(assoc, identifier, STUDY_FIND) == [0xA900]


def test_patient_root_answers_patients(world: World, receiver: Receiver) -> None:
    identifier = Dataset()
    identifier.QueryRetrieveLevel = "PATIENT"
    identifier.PatientID = "PAT00?"
    identifier.PatientName = ""
    model = PatientRootQueryRetrieveInformationModelFind
    assoc = associate(receiver, model)
    answers = [
        (int(status.Status), found) for status, found in assoc.send_c_find(identifier, model)
    ]
    assoc.release()
    assert [s for s, _ in answers] == [0xFF00, 0xFF00, 0x0000]
    assert sorted(str(f.PatientName) for _, f in answers[:2]) == ["Doe^Jane", "Roe^Richard"]


def test_c_get_with_pynetdicom(world: World, receiver: Receiver) -> None:
    got: list[Dataset] = []

    def store(event: Event) -> int:
        got.append(event.dataset)
        return 0x0000

    ae = AE(ae_title="WS_PRIV")
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
    ae.add_requested_context(MRImageStorage, ExplicitVRLittleEndian)
    assoc = ae.associate(
        "127.0.0.1",
        receiver.port,
        ae_title="SCANDEPOT",
        ext_neg=[build_role(MRImageStorage, scp_role=True)],
        evt_handlers=[(evt.EVT_C_STORE, store)],
    )
    assert assoc.is_established
    identifier = Dataset()
    identifier.QueryRetrieveLevel = "STUDY"
    identifier.StudyInstanceUID = [
        world.private.study.StudyInstanceUID,
        world.public.study.StudyInstanceUID,  # not PRIV's: never sent, never counted
    ]
    answers = list(assoc.send_c_get(identifier, StudyRootQueryRetrieveInformationModelGet))
    assoc.release()
    final = answers[-1][0]
    assert int(final.Status) == 0x0000
    assert int(final.NumberOfCompletedSuboperations) == 4
    assert int(final.NumberOfFailedSuboperations) == 0
    assert {str(ds.SOPInstanceUID) for ds in got} == set(world.private.files)
    pending = [int(s.NumberOfRemainingSuboperations) for s, _ in answers[:-1]]
    assert pending == [3, 2, 1]


def get_private(
    world: World, receiver: Receiver, store: Callable[[Event], int], syntax: str
) -> list[tuple[Dataset, Dataset | None]]:
    """C-GET of the private study by WS_PRIV, MR storage in ``syntax`` only."""
    ae = AE(ae_title="WS_PRIV")
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
    ae.add_requested_context(MRImageStorage, syntax)
    assoc = ae.associate(
        "127.0.0.1",
        receiver.port,
        ae_title="SCANDEPOT",
        ext_neg=[build_role(MRImageStorage, scp_role=True)],
        evt_handlers=[(evt.EVT_C_STORE, store)],
    )
    assert assoc.is_established
    identifier = Dataset()
    identifier.QueryRetrieveLevel = "STUDY"
    identifier.StudyInstanceUID = world.private.study.StudyInstanceUID
    answers = list(assoc.send_c_get(identifier, StudyRootQueryRetrieveInformationModelGet))
    assoc.release()
    return answers


def test_c_get_converts_to_the_syntax_the_peer_takes(world: World, receiver: Receiver) -> None:
    got: dict[str, Dataset] = {}

    def store(event: Event) -> int:
        assert event.context.transfer_syntax == ImplicitVRLittleEndian
        got[str(event.dataset.SOPInstanceUID)] = event.dataset
        return 0x0000

    answers = get_private(world, receiver, store, ImplicitVRLittleEndian)
    assert int(answers[-1][0].Status) == 0x0000
    assert got.keys() == world.private.files.keys()
    for uid, data in world.private.files.items():
        original = dcmread(BytesIO(data))
        assert got[uid].PixelData == original.PixelData
        assert got[uid].PatientName == original.PatientName


def test_c_get_names_the_instances_the_peer_failed_to_store(
    world: World, receiver: Receiver
) -> None:
    refused = sorted(world.private.files)[0]

    def store(event: Event) -> int:
        return 0xA700 if event.request.AffectedSOPInstanceUID == refused else 0x0000

    final, identifier = get_private(world, receiver, store, ExplicitVRLittleEndian)[-1]
    assert int(final.Status) == 0xB000
    assert (final.NumberOfCompletedSuboperations, final.NumberOfFailedSuboperations) == (3, 1)
    assert identifier is not None and identifier.FailedSOPInstanceUIDList == refused


def test_c_cancel_stops_a_c_get(world: World, receiver: Receiver) -> None:
    stored: list[str] = []

    def store(event: Event) -> int:
        stored.append(str(event.dataset.SOPInstanceUID))
        if len(stored) == 1:
            event.assoc.send_c_cancel(1, query_model=StudyRootQueryRetrieveInformationModelGet)
        return 0x0000

    final, _ = get_private(world, receiver, store, ExplicitVRLittleEndian)[-1]
    assert int(final.Status) == 0xFE00
    assert final.NumberOfCompletedSuboperations == 1 == len(stored)
    assert final.NumberOfRemainingSuboperations == 3


@pytest.mark.parametrize("level", ["PATIENT", "IMAGE"])
def test_c_get_by_patient_and_by_instance_uids(
    world: World, receiver: Receiver, level: str
) -> None:
    got: list[str] = []

    def store(event: Event) -> int:
        got.append(str(event.dataset.SOPInstanceUID))
        return 0x0000

    model = PatientRootQueryRetrieveInformationModelGet
    ae = AE(ae_title="WS_OWNER")
    ae.add_requested_context(model)
    ae.add_requested_context(MRImageStorage, ExplicitVRLittleEndian)
    assoc = ae.associate(
        "127.0.0.1",
        receiver.port,
        ae_title="SCANDEPOT",
        ext_neg=[build_role(MRImageStorage, scp_role=True)],
        evt_handlers=[(evt.EVT_C_STORE, store)],
    )
    identifier = Dataset()
    identifier.QueryRetrieveLevel = level
    if level == "PATIENT":
        identifier.PatientID = "PAT002"
        wanted = set(world.public.files)
    else:  # a list of UIDs from two studies, without their study or series
        wanted = {sorted(world.public.files)[0], sorted(world.private.files)[1]}
        identifier.SOPInstanceUID = sorted(wanted)
    answers = list(assoc.send_c_get(identifier, model))
    assoc.release()
    assert int(answers[-1][0].Status) == 0x0000
    assert set(got) == wanted and len(got) == len(wanted)


def test_c_get_without_the_scp_role_fails_each_sub_operation(
    world: World, receiver: Receiver
) -> None:
    assoc = associate(receiver, StudyRootQueryRetrieveInformationModelGet, MRImageStorage)
    identifier = Dataset()
    identifier.QueryRetrieveLevel = "SERIES"
    identifier.StudyInstanceUID = world.public.study.StudyInstanceUID
    identifier.SeriesInstanceUID = world.public.series[0].SeriesInstanceUID
    answers = list(assoc.send_c_get(identifier, StudyRootQueryRetrieveInformationModelGet))
    assoc.release()
    final, failed = answers[-1]
    assert int(final.Status) == 0xA702  # every sub-operation failed
    assert int(final.NumberOfFailedSuboperations) == 2
    assert sorted(failed.FailedSOPInstanceUIDList) == sorted(world.public.files)


def test_c_get_without_a_unique_key_fails(world: World, receiver: Receiver) -> None:
    assoc = associate(receiver, StudyRootQueryRetrieveInformationModelGet)
    identifier = Dataset()
    identifier.QueryRetrieveLevel = "STUDY"
    identifier.PatientID = "PAT001"
    answers = list(assoc.send_c_get(identifier, StudyRootQueryRetrieveInformationModelGet))
    assoc.release()
    assert [int(s.Status) for s, _ in answers] == [0xA900]


# -- a raw socket: C-FIND and C-CANCEL in one P-DATA-TF


def _pdv(control: int, data: bytes) -> bytes:
    return struct.pack(">IBB", len(data) + 2, 1, control) + data


def _status(pdu: bytes) -> int:
    at = pdu.index(struct.pack("<HHI", 0, 0x0900, 2))
    return int(struct.unpack_from("<H", pdu, at + 8)[0])


def test_c_cancel_ends_a_c_find(world: World, receiver: Receiver) -> None:
    find = Dataset()
    find.AffectedSOPClassUID = STUDY_FIND
    find.CommandField, find.MessageID, find.Priority, find.CommandDataSetType = 0x20, 7, 0, 0
    cancel = Dataset()
    cancel.CommandField, cancel.MessageIDBeingRespondedTo = 0x0FFF, 7
    cancel.CommandDataSetType = 0x0101
    identifier = Dataset()
    identifier.QueryRetrieveLevel = "IMAGE"
    identifier.SOPInstanceUID = ""
    body = (
        _pdv(0x03, command_set(find))
        + _pdv(0x02, encode_data_set(identifier, ExplicitVRLittleEndian))
        + _pdv(0x03, command_set(cancel))
    )
    with socket.create_connection(("127.0.0.1", receiver.port), timeout=30) as sock:
        sock.sendall(associate_rq(calling="WS_OWNER", abstract_syntax=STUDY_FIND))
        assert read_pdu(sock)[0] == 0x02
        sock.sendall(struct.pack(">BBI", 0x04, 0, len(body)) + body)
        assert _status(read_pdu(sock)) == 0xFE00  # cancelled before the first match
        sock.sendall(b"\x05\x00\x00\x00\x00\x04\x00\x00\x00\x00")
        assert read_pdu(sock)[0] == 0x06


@pytest.mark.parametrize(
    ("keyword", "value"),
    [("StudyDate", "2024-01-01"), ("StudyTime", "25"), ("StudyInstanceUID", "1.2.abc")],
)
def test_find_with_a_malformed_key_fails(
    world: World, receiver: Receiver, keyword: str, value: str
) -> None:
    identifier = Dataset()
    identifier.QueryRetrieveLevel = "STUDY"
    tag = keyword_dict[keyword]
    identifier[tag] = DataElement(tag, dictionary_VR(tag), value, validation_mode=config.IGNORE)
    assoc = associate(receiver, STUDY_FIND)
    assert statuses(assoc, identifier, STUDY_FIND) == [0xA900]


def test_c_get_of_a_uid_that_is_none_fails(world: World, receiver: Receiver) -> None:
    assoc = associate(receiver, StudyRootQueryRetrieveInformationModelGet)
    identifier = Dataset()
    identifier.QueryRetrieveLevel = "STUDY"
    tag = 0x0020000D
    identifier[tag] = DataElement(tag, "UI", "../etc", validation_mode=config.IGNORE)
    answers = list(assoc.send_c_get(identifier, StudyRootQueryRetrieveInformationModelGet))
    assoc.release()
    assert [int(s.Status) for s, _ in answers] == [0xA900]
