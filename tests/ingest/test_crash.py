"""SIGKILL the receiver in the middle of a storescu run: what was acknowledged is kept."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pydicom import dcmread
from sqlalchemy import select

from scandepot.catalog.prearchive import Instance
from scandepot.db.engine import Database
from scandepot.dicom.synthetic import Series, Study
from tests.cli.test_serve import free_port
from tests.helpers import data_set_bytes, write_study

pytestmark = pytest.mark.interop

SCANDEPOT = [sys.executable, "-m", "scandepot"]


def start_dicom(data: Path, env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [*SCANDEPOT, "dicom", "--data-dir", str(data), "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        echo = subprocess.run(
            ["echoscu", "-aec", "SCANDEPOT", "127.0.0.1", str(port)],
            capture_output=True,
            timeout=10,
        )
        if echo.returncode == 0:
            return proc
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("scandepot dicom did not start")


def test_sigkill_mid_transfer_keeps_every_acknowledged_instance(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCANDEPOT_")}
    env["SCANDEPOT_DATABASE_URL"] = f"sqlite:///{data / 'scandepot.db'}"
    files = write_study(
        tmp_path / "in", Study(), [Series(1, "T1w"), Series(2, "T2w")], per_series=150
    )
    port = free_port()
    receiver = start_dicom(data, env, port)
    sender = subprocess.Popen(
        ["storescu", "-v", "-aec", "SCANDEPOT", "127.0.0.1", str(port), *map(str, files)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "TCP_NODELAY": "1"},
    )
    assert sender.stdout is not None
    acknowledged = 0
    for line in sender.stdout:
        if "Received Store Response (Success)" in line:
            acknowledged += 1
            if acknowledged == 120:
                receiver.send_signal(signal.SIGKILL)
                receiver.wait(timeout=10)
    sender.wait(timeout=60)
    sender.stdout.close()
    assert 120 <= acknowledged < len(files)
    assert sender.returncode != 0  # the sender saw the receiver go away

    # Restart: everything the sender was told was stored is there and catalogued.
    again = start_dicom(data, env, port)
    try:
        db = Database(env["SCANDEPOT_DATABASE_URL"])
        with db.read() as session:
            rows = {r.SOPInstanceUID: r for r in session.scalars(select(Instance))}
        db.dispose()
        for path in files[:acknowledged]:
            uid = dcmread(path, stop_before_pixels=True).SOPInstanceUID
            row = rows[uid]
            stored = data / str(row.spool_path)
            assert data_set_bytes(stored) == data_set_bytes(path)
        # Nothing half-written is catalogued: every row's file is whole.
        for row in rows.values():
            stored = data / str(row.spool_path)
            assert stored.stat().st_size == row.size
        check = subprocess.run(
            [*SCANDEPOT, "check", "--data-dir", str(data)], env=env, capture_output=True, text=True
        )
        assert check.returncode == 0, check.stdout + check.stderr
        # The interrupted transfer can simply be sent again.
        resend = subprocess.run(
            ["storescu", "-aec", "SCANDEPOT", "127.0.0.1", str(port), *map(str, files)],
            capture_output=True,
            env={**os.environ, "TCP_NODELAY": "1"},
            timeout=120,
        )
        assert resend.returncode == 0
        db = Database(env["SCANDEPOT_DATABASE_URL"])
        with db.read() as session:
            assert len(session.scalars(select(Instance)).all()) == len(files)
        db.dispose()
    finally:
        again.terminate()
        again.wait(timeout=20)
