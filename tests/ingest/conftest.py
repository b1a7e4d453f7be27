"""A running DICOM receiver and helpers to send to it with dcmtk's storescu."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from scandepot.context import Context
from scandepot.dicom.synthetic import Series, Study, mr_instance
from scandepot.events import SessionArchived, SessionNeedsAttention
from scandepot.ingest.dimse import DimseSettings, Receiver


@pytest.fixture
def receiver(ctx: Context) -> Iterator[Receiver]:
    settings = DimseSettings.from_context(ctx)
    settings.port = 0
    settings.ae_projects = {"MRI_PILOT": "PILOT"}
    running = Receiver(ctx, settings).start()
    yield running
    running.stop()


@pytest.fixture
def events(ctx: Context) -> list[Any]:
    seen: list[Any] = []
    ctx.events.subscribe(SessionArchived, seen.append)
    ctx.events.subscribe(SessionNeedsAttention, seen.append)
    return seen


def write_study(
    folder: Path,
    study: Study,
    series: list[Series],
    per_series: int = 3,
    *,
    size: int = 32,
    **kwargs: Any,
) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for s in series:
        for number in range(1, per_series + 1):
            ds = mr_instance(study, s, number, rows=size, columns=size, **kwargs)
            path = folder / f"{s.SeriesNumber}-{number}.dcm"
            ds.save_as(path, enforce_file_format=True)
            paths.append(path)
    return paths


@pytest.fixture
def storescu(receiver: Receiver) -> Callable[..., subprocess.CompletedProcess[str]]:
    def send(
        *files: Path,
        called: str = "SCANDEPOT",
        calling: str = "SCANNER1",
        extra: tuple[str, ...] = (),
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                "storescu",
                "-v",
                "-aet",
                calling,
                "-aec",
                called,
                *extra,
                "127.0.0.1",
                str(receiver.port),
                *map(str, files),
            ],
            env={**os.environ, "TCP_NODELAY": "1"},
            capture_output=True,
            text=True,
            timeout=120,
        )

    return send
