"""What a pipeline is handed when its job runs: :class:`JobRun`, and the two ways it ends
early. Pipelines (dcm2niix.py, snapshots.py, qa/) import this module and nothing of the
runner, which calls them through the :class:`Pipeline` interface with a mapping it is
given (pipelines/builtin.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from scandepot.archive.outputs import OutputFolder
from scandepot.context import Context

# Jobs on no session: they read what to do from their parameters and change the catalog
# themselves, through the context they are handed (JobRun.ctx).
SITE_TASKS = frozenset({"transfer", "push", "dataset_validation"})


class PipelineError(Exception):
    """The job cannot succeed; the message is what its record shows."""


class Cancelled(Exception):
    pass


class Later(Exception):
    """The job cannot go on before ``seconds`` have passed (a peer that cannot be reached):
    it is queued again with a ``not_before`` time, and its worker is free meanwhile. What
    it has done must already be committed; it starts from the beginning when claimed again.
    ``reason`` is what the job's record shows while it waits."""

    def __init__(self, seconds: float, reason: str) -> None:
        super().__init__(reason)
        self.seconds = seconds
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ScanTarget:
    """A scan a job works on, as it is when the job starts."""

    scan_id: int
    session_id: int
    label: str
    type: str | None
    Modality: str | None  # (0008,0060)
    SeriesDescription: str | None  # (0008,103E)
    resources: dict[str, Path]  # label -> folder of its files, for existing resources


@dataclass
class JobRun:
    """What a pipeline is handed: its parameters, a work folder, a log, and the means to
    stop early and to declare outputs."""

    job_id: int
    pipeline: str
    parameters: dict[str, Any]
    workdir: Path
    targets: list[ScanTarget]
    whole_session: bool
    stop: threading.Event = field(default_factory=threading.Event)
    outputs: list[OutputFolder] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    _lines: list[str] = field(default_factory=list)
    # The runner's context, for site tasks; pipelines work on files and leave it alone.
    ctx: Context | None = None

    def log(self, message: str) -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        for line in message.rstrip("\n").splitlines() or [""]:
            self._lines.append(f"{stamp} {line}")

    @property
    def log_text(self) -> str:
        return "\n".join(self._lines) + ("\n" if self._lines else "")

    def check(self) -> None:
        if self.stop.is_set():
            raise Cancelled()

    def folder(self, *parts: str) -> Path:
        path = self.workdir.joinpath(*parts)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def run(
        self, argv: Sequence[str], *, timeout_s: float, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run a program, its output into the log; stopped on cancel or after timeout_s."""
        self.log("$ " + " ".join(argv))
        with subprocess.Popen(
            list(argv),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            env=env,
            start_new_session=True,
        ) as proc:
            deadline = time.monotonic() + timeout_s
            out: str | None = None
            while out is None:
                try:
                    out, _ = proc.communicate(timeout=0.2)
                except subprocess.TimeoutExpired:
                    if self.stop.is_set() or time.monotonic() > deadline:
                        os.killpg(proc.pid, signal.SIGKILL)
                        proc.communicate()
                        if self.stop.is_set():
                            raise Cancelled() from None
                        raise PipelineError(
                            f"{Path(argv[0]).name} ran longer than {timeout_s:g} s; stopped."
                        ) from None
            self.log(out)
        return subprocess.CompletedProcess(list(argv), proc.returncode, out, None)

    def publish(self, folder: Path, label: str, target: ScanTarget, fmt: str, content: str) -> None:
        if any(folder.iterdir()):
            self.outputs.append(
                OutputFolder(folder, label, target.session_id, target.scan_id, fmt, content)
            )


class Pipeline(Protocol):
    def __call__(self, run: JobRun) -> None: ...


Pipelines = Mapping[str, Pipeline]  # by the name a job records (Job.pipeline)
