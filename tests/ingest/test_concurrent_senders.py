"""The receiver with real senders at once: several storescu associations into one
process, and into several processes sharing the port."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from scandepot.context import Context
from scandepot.dicom.synthetic import Series, Study
from scandepot.dimse import DimseSettings, Receiver
from tests.helpers import write_study
from tests.ingest.test_fast_path import assert_whole, rows, staged_ids

pytestmark = pytest.mark.interop


def send_at_once(port: int, chunks: list[list[Path]]) -> None:
    """One storescu association for each chunk, all at the same time; each must succeed."""
    procs = [
        subprocess.Popen(
            ["storescu", "-aec", "SCANDEPOT", "127.0.0.1", str(port), *map(str, c)],
            env={**os.environ, "TCP_NODELAY": "1"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for c in chunks
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err


def test_concurrent_associations_all_land_once(
    ctx: Context, receiver: Receiver, tmp_path: Path
) -> None:
    """Four storescu associations at once, two studies: every instance catalogued once,
    in one staged session per study, with its bytes."""
    studies = [Study(), Study(PatientID="PAT002")]
    chunks = []
    for k in range(4):
        study = studies[k % 2]
        chunks.append(write_study(tmp_path / f"in{k}", study, [Series(10 + k)], per_series=15))
    send_at_once(receiver.port, chunks)
    found = rows(ctx)
    assert len(found) == 60
    assert len({r.SOPInstanceUID for r in found}) == 60
    assert len(staged_ids(ctx)) == 2
    assert_whole(ctx)


def test_several_processes_share_the_port(ctx: Context, tmp_path: Path) -> None:
    settings = DimseSettings.from_context(ctx)
    settings.port = 0
    settings.processes = 2
    receiver = Receiver(ctx, settings).start()
    try:
        assert len(receiver._workers) == 1 and receiver._workers[0].process.is_alive()
        study = Study()
        chunks = [
            write_study(tmp_path / f"in{k}", study, [Series(k + 1)], per_series=10)
            for k in range(4)
        ]
        send_at_once(receiver.port, chunks)
    finally:
        receiver.stop()
    assert not receiver._workers[0].process.is_alive()
    found = rows(ctx)
    assert len(found) == 40 and len({r.SOPInstanceUID for r in found}) == 40
    assert len(staged_ids(ctx)) == 1
    assert_whole(ctx)
