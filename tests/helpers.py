"""Small helpers shared by the tests."""

from __future__ import annotations

import contextlib
import datetime as dt
import struct
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from scandepot.dicom.synthetic import Series, Study, mr_instance

ADMIN = ("admin", "correct-horse-battery")
API = "/api/v1"


class Clock:
    """A UTC clock that stands still until the test moves it on, for code that takes a
    ``clock``: time passes for a rule (a quiet time, an expiry) without a sleep."""

    def __init__(self, now: dt.datetime | None = None) -> None:
        self.now = now or dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


def create_tree(
    client: TestClient,
    project: str = "P1",
    subject: str = "S1",
    session: str = "E1",
    scan: str = "1",
    auth: Any = ADMIN,
    **project_fields: Any,
) -> None:
    """A project with one subject, session and scan, each created through the API."""
    r = client.post(f"{API}/projects", json={"id": project, **project_fields}, auth=auth)
    assert r.status_code == 201, r.text
    r = client.post(f"{API}/projects/{project}/subjects", json={"label": subject}, auth=auth)
    assert r.status_code == 201, r.text
    r = client.post(
        f"{API}/projects/{project}/sessions",
        json={"label": session, "subject": subject, "date": "2024-03-01", "modality": "MR"},
        auth=auth,
    )
    assert r.status_code == 201, r.text
    r = client.post(
        f"{API}/projects/{project}/sessions/{session}/scans",
        json={
            "id": scan,
            "SeriesNumber": int(scan) if scan.isdigit() else None,
            "SeriesDescription": "T1w MPRAGE",
            "Modality": "MR",
        },
        auth=auth,
    )
    assert r.status_code == 201, r.text


def scan_files_url(
    project: str = "P1", session: str = "E1", scan: str = "1", resource: str = "DICOM"
) -> str:
    return f"{API}/projects/{project}/sessions/{session}/scans/{scan}/resources/{resource}/files"


def data_set_bytes(path: Path) -> bytes:
    """A DICOM file's bytes after its File Meta Information: what a sender sent of it,
    which the receiver must keep as it came."""
    raw = path.read_bytes()
    assert raw[128:132] == b"DICM", path
    # (0002,0000) File Meta Information Group Length, explicit VR UL: tag, VR, length, value.
    assert raw[132:136] == b"\x02\x00\x00\x00", path
    (group_length,) = struct.unpack_from("<I", raw, 140)
    return raw[144 + group_length :]


def write_study(
    folder: Path,
    study: Study,
    series: list[Series],
    per_series: int = 3,
    *,
    size: int = 32,
    **kwargs: Any,
) -> list[Path]:
    """Synthetic MR instances of ``study`` written as DICOM files into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for s in series:
        for number in range(1, per_series + 1):
            ds = mr_instance(study, s, number, rows=size, columns=size, **kwargs)
            path = folder / f"{s.SeriesNumber}-{number}.dcm"
            ds.save_as(path, enforce_file_format=True)
            paths.append(path)
    return paths


def spooled(tmp: Path, size: int, timeout: float = 20) -> None:
    """Wait until a temporary file in ``tmp`` holds ``size`` bytes or more."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(FileNotFoundError):  # one that went meanwhile
            if any(p.stat().st_size >= size for p in tmp.glob("*.part")):
                return
        assert time.monotonic() < deadline, f"nothing of {size} bytes in {tmp}"
        time.sleep(0.02)


def after_archive(app: Any) -> None:
    """Wait for what the application does on threads of its own after an archive (the
    scans' pictures, the series' DICOMweb metadata): both write files of their own."""
    for work in app.state.after_archive:
        work.wait()
