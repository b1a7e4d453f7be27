"""DICOM query/retrieve against dcmtk's findscu, getscu and movescu, and pynetdicom.

The archive (conftest.py) holds a study in a private project and one in a public
project; WS_OWNER calls with the owner's rights, WS_OUTSIDER with an outsider's,
WS_PRIV with project PRIV's, and any other AE title with what anonymous visitors get.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

import heudiconv
import pytest
from pydicom import dcmread
from pynetdicom.dsutils import split_dataset

from scandepot.access.actors import SYSTEM
from scandepot.context import Context
from scandepot.dicomnodes import nodes
from scandepot.dicomnodes.nodes import NodeCreate
from scandepot.dimse import Receiver
from tests.dimse.conftest import World, archive_files

pytestmark = pytest.mark.interop


def dcmtk(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [f"/usr/bin/{tool}", "-v", *args],
        env={**os.environ, "TCP_NODELAY": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def find(
    receiver: Receiver, out: Path, *keys: str, calling: str = "WS_OWNER", root: str = "-S"
) -> list[dict[str, str]]:
    """findscu's answers, each as keyword -> value."""
    out.mkdir(exist_ok=True)
    args = [root, "-aet", calling, "-aec", "SCANDEPOT", "-X", "-od", str(out)]
    for key in keys:
        args += ["-k", key]
    done = dcmtk("findscu", *args, "127.0.0.1", str(receiver.port))
    assert done.returncode == 0, done.stderr
    answers = []
    for path in sorted(out.glob("rsp*.dcm")):
        ds = dcmread(path)
        answers.append({e.keyword: str(e.value) for e in ds if e.keyword})
        path.unlink()
    return answers


def data_set(raw: bytes | Path) -> bytes:
    """The bytes of a DICOM file after its File Meta Information."""
    path = raw if isinstance(raw, Path) else None
    if path is None:
        return bytes(raw[132 + 12 + int.from_bytes(raw[140:144], "little") :])  # type: ignore[index]
    _, offset = split_dataset(path)
    return path.read_bytes()[offset:]


@pytest.mark.parametrize("root", ["-S", "-P"])
def test_find_studies_with_a_wildcard_in_both_roots(
    world: World, receiver: Receiver, tmp_path: Path, root: str
) -> None:
    keys = ["QueryRetrieveLevel=STUDY", "PatientName=D*", "StudyInstanceUID", "StudyDate"]
    if root == "-P":
        keys.append("PatientID=PAT001")
    [answer] = find(receiver, tmp_path, *keys, root=root)
    assert answer["StudyInstanceUID"] == world.private.study.StudyInstanceUID
    assert answer["PatientName"] == "Doe^Jane"
    assert answer["StudyDate"] == "20240101"
    assert answer["QueryRetrieveLevel"] == "STUDY"


def test_find_patients_in_patient_root(world: World, receiver: Receiver, tmp_path: Path) -> None:
    answers = find(
        receiver,
        tmp_path,
        "QueryRetrieveLevel=PATIENT",
        "PatientName",
        "PatientID",
        root="-P",
    )
    assert sorted(a["PatientID"] for a in answers) == ["PAT001", "PAT002"]


def test_find_series_and_images(world: World, receiver: Receiver, tmp_path: Path) -> None:
    study = world.private.study.StudyInstanceUID
    series = find(
        receiver,
        tmp_path,
        "QueryRetrieveLevel=SERIES",
        f"StudyInstanceUID={study}",
        "SeriesInstanceUID",
        "SeriesDescription",
        "Modality",
    )
    assert sorted(a["SeriesDescription"] for a in series) == ["T1w", "rest BOLD"]
    assert {a["Modality"] for a in series} == {"MR"}
    first = world.private.series[0].SeriesInstanceUID
    images = find(
        receiver,
        tmp_path,
        "QueryRetrieveLevel=IMAGE",
        f"StudyInstanceUID={study}",
        f"SeriesInstanceUID={first}",
        "SOPInstanceUID",
        "InstanceNumber",
    )
    mine = {uid for uid in world.private.files if dcmread_uid_series(world, uid) == first}
    assert {a["SOPInstanceUID"] for a in images} == mine


def dcmread_uid_series(world: World, uid: str) -> str:
    return str(dcmread(BytesIO(world.private.files[uid])).SeriesInstanceUID)


def test_find_by_date_range(world: World, receiver: Receiver, tmp_path: Path) -> None:
    [answer] = find(
        receiver, tmp_path, "QueryRetrieveLevel=STUDY", "StudyDate=20240201-20240401", "PatientID"
    )
    assert answer["PatientID"] == "PAT002"
    assert answer["StudyDate"] == "20240315"


@pytest.mark.parametrize(
    ("calling", "seen"),
    [("STRANGER", ["PAT002"]), ("WS_OUTSIDER", ["PAT002"]), ("WS_PRIV", ["PAT001"])],
)
def test_a_peer_sees_what_its_title_may_read(
    world: World, receiver: Receiver, tmp_path: Path, calling: str, seen: list[str]
) -> None:
    answers = find(receiver, tmp_path, "QueryRetrieveLevel=STUDY", "PatientID", calling=calling)
    assert sorted(a["PatientID"] for a in answers) == seen


@pytest.mark.in_process("sets the receiver's answer limit")
def test_find_answers_at_most_the_limit(world: World, receiver: Receiver, tmp_path: Path) -> None:
    receiver.settings.find_limit = 3
    answers = find(receiver, tmp_path, "QueryRetrieveLevel=IMAGE", "SOPInstanceUID")
    assert len(answers) == 3  # of 6, then success (findscu exits 0)
    every = set(world.private.files) | set(world.public.files)
    assert {a["SOPInstanceUID"] for a in answers} < every


@pytest.mark.in_process("sets the receiver's rule for unmapped peers")
def test_unmapped_peers_refused_when_the_site_says_so(
    world: World, receiver: Receiver, tmp_path: Path
) -> None:
    receiver.settings.unmapped_peers = "refuse"
    done = dcmtk(
        "findscu",
        "-S",
        "-aet",
        "STRANGER",
        "-aec",
        "SCANDEPOT",
        "-k",
        "QueryRetrieveLevel=STUDY",
        "127.0.0.1",
        str(receiver.port),
    )
    assert done.returncode != 0
    assert "No Acceptable Presentation Contexts" in done.stderr
    assert len(find(receiver, tmp_path, "QueryRetrieveLevel=STUDY", "PatientID")) == 2


def test_getscu_retrieves_a_series_as_stored(
    world: World, receiver: Receiver, tmp_path: Path
) -> None:
    tmp_path = tmp_path / "got"
    tmp_path.mkdir()
    study = world.private.study.StudyInstanceUID
    series = world.private.series[1].SeriesInstanceUID
    done = dcmtk(
        "getscu",
        "-S",
        "-aet",
        "WS_OWNER",
        "-aec",
        "SCANDEPOT",
        "-k",
        "QueryRetrieveLevel=SERIES",
        "-k",
        f"StudyInstanceUID={study}",
        "-k",
        f"SeriesInstanceUID={series}",
        "-od",
        str(tmp_path),
        "127.0.0.1",
        str(receiver.port),
    )
    assert done.returncode == 0, done.stderr
    received = {str(dcmread(p).SOPInstanceUID): p for p in tmp_path.iterdir()}
    sent = {
        uid: data
        for uid, data in world.private.files.items()
        if dcmread_uid_series(world, uid) == series
    }
    assert received.keys() == sent.keys() and len(sent) == 2
    for uid, data in sent.items():
        assert data_set(received[uid]) == data_set(data)


def test_getscu_of_a_study_the_peer_may_not_read_sends_nothing(
    world: World, receiver: Receiver, tmp_path: Path
) -> None:
    tmp_path = tmp_path / "got"
    tmp_path.mkdir()
    done = dcmtk(
        "getscu",
        "-S",
        "-aet",
        "WS_OUTSIDER",
        "-aec",
        "SCANDEPOT",
        "-k",
        "QueryRetrieveLevel=STUDY",
        "-k",
        f"StudyInstanceUID={world.private.study.StudyInstanceUID}",
        "-od",
        str(tmp_path),
        "127.0.0.1",
        str(receiver.port),
    )
    assert done.returncode == 0, done.stderr
    assert list(tmp_path.iterdir()) == []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def storescp(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """dcmtk's storescp as AE DEST on a port of its own, writing into a folder."""
    port, folder = free_port(), tmp_path / "dest"
    folder.mkdir()
    process = subprocess.Popen(
        ["/usr/bin/storescp", "-aet", "DEST", "-od", str(folder), str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while dcmtk("echoscu", "-aec", "DEST", "127.0.0.1", str(port)).returncode != 0:
            assert process.poll() is None and time.monotonic() < deadline, "storescp not up"
            time.sleep(0.05)
        yield port, folder
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_movescu_sends_a_study_to_a_registered_destination(
    ctx: Context, world: World, receiver: Receiver, storescp: tuple[int, Path]
) -> None:
    port, folder = storescp
    nodes.add(ctx, SYSTEM, NodeCreate(ae_title="DEST", host="127.0.0.1", port=port))
    done = dcmtk(
        "movescu",
        "-S",
        "-aet",
        "WS_OWNER",
        "-aec",
        "SCANDEPOT",
        "-aem",
        "DEST",
        "-k",
        "QueryRetrieveLevel=STUDY",
        "-k",
        f"StudyInstanceUID={world.private.study.StudyInstanceUID}",
        "127.0.0.1",
        str(receiver.port),
    )
    assert done.returncode == 0, done.stderr
    assert "Received Final Move Response (Success)" in done.stderr
    received = {str(dcmread(p).SOPInstanceUID): p for p in folder.iterdir()}
    assert received.keys() == world.private.files.keys()
    for uid, data in world.private.files.items():
        assert data_set(received[uid]) == data_set(data)  # the data set as stored


SIEMENS = Path(heudiconv.__file__).parent / "tests" / "data" / "01-anat-scout" / "0001.dcm"


def test_real_siemens_data_found_got_and_moved(
    ctx: Context, world: World, receiver: Receiver, storescp: tuple[int, Path], tmp_path: Path
) -> None:
    original = SIEMENS.read_bytes()
    study = str(dcmread(SIEMENS).StudyInstanceUID)
    archive_files(ctx, "PUB", study, [original])
    [answer] = find(
        receiver,
        tmp_path / "find",
        "QueryRetrieveLevel=STUDY",
        f"StudyInstanceUID={study}",
        "PatientName",
        "StudyDescription",
        "ModalitiesInStudy",
        calling="STRANGER",
    )
    assert answer["ModalitiesInStudy"] == "MR"
    got = tmp_path / "got"
    got.mkdir()
    key = ["-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study}"]
    peer = ["127.0.0.1", str(receiver.port)]
    done = dcmtk(
        "getscu", "-S", "-aet", "STRANGER", "-aec", "SCANDEPOT", *key, "-od", str(got), *peer
    )
    assert done.returncode == 0, done.stderr
    [received] = got.iterdir()
    assert data_set(received) == data_set(original)
    port, folder = storescp
    nodes.add(ctx, SYSTEM, NodeCreate(ae_title="DEST", host="127.0.0.1", port=port))
    done = dcmtk(
        "movescu", "-S", "-aet", "STRANGER", "-aec", "SCANDEPOT", "-aem", "DEST", *key, *peer
    )
    assert "Received Final Move Response (Success)" in done.stderr, done.stderr
    [moved] = folder.iterdir()
    assert data_set(moved) == data_set(original)


def test_movescu_to_a_destination_that_does_not_answer(
    ctx: Context, world: World, receiver: Receiver
) -> None:
    nodes.add(ctx, SYSTEM, NodeCreate(ae_title="GONE", host="127.0.0.1", port=free_port()))
    done = dcmtk(
        "movescu",
        "-S",
        "-aet",
        "WS_OWNER",
        "-aec",
        "SCANDEPOT",
        "-aem",
        "GONE",
        "-k",
        "QueryRetrieveLevel=STUDY",
        "-k",
        f"StudyInstanceUID={world.public.study.StudyInstanceUID}",
        "127.0.0.1",
        str(receiver.port),
    )
    assert "Received Final Move Response (Refused: OutOfResourcesSubOperations)" in done.stderr, (
        done.stderr
    )


def test_movescu_to_an_unknown_destination_is_refused(world: World, receiver: Receiver) -> None:
    done = dcmtk(
        "movescu",
        "-S",
        "-aet",
        "WS_OWNER",
        "-aec",
        "SCANDEPOT",
        "-aem",
        "NOWHERE",
        "-k",
        "QueryRetrieveLevel=STUDY",
        "-k",
        f"StudyInstanceUID={world.private.study.StudyInstanceUID}",
        "127.0.0.1",
        str(receiver.port),
    )
    assert "Received Final Move Response (Refused: MoveDestinationUnknown)" in done.stderr
