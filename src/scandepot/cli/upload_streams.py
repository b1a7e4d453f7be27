"""How ``scandepot upload`` sends: tar streams of one study each, several at once.

Each stream is one import into the prearchive, held there; with ``--to archive`` the last
stream of each session archives it (with ``--overwrite``), once the others are in. The
server takes a stream whole or not at all, so an interrupted run leaves nothing half-sent.
"""

from __future__ import annotations

import sys
import tarfile
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import typer

from scandepot.cli.local_dicom import Found, Study
from scandepot.cli.remote import CHUNK, Incomplete, Refused, error_message
from scandepot.cli.verify import Asked
from scandepot.ingest.modes import Destination, Overwrite

Held = dict[str, tuple[str, str]]  # SOP Instance UID -> (SHA-256, where), as verify.held


@dataclass(frozen=True, slots=True)
class Sending:
    """How the files go: ``--overwrite``, ``--streams`` and ``--batch-mb``."""

    overwrite: Overwrite
    streams: int
    batch_mb: int


class Progress:
    def __init__(self, bar: Any) -> None:
        self.bar = bar
        self.files = 0  # sent and taken by the server
        self.lock = threading.Lock()

    def add(self, n: int) -> None:
        with self.lock:
            self.bar.update(n)

    def done(self, n: int) -> None:
        with self.lock:
            self.files += n


def send_all(
    client: httpx.Client,
    asked: Asked,
    sending: Sending,
    missing: dict[str, list[Found]],
    have: Held,
    studies: list[Study],
) -> tuple[int, list[str]]:
    """Send the ``missing`` files of each study; how many the server took, and what went
    wrong. Ctrl-C stops at once, exit code 130."""
    total = sum(f.size for fs in missing.values() for f in fs)
    problems: list[str] = []
    with typer.progressbar(length=max(total, 1), label="uploading", file=sys.stderr) as bar:
        progress = Progress(bar)
        pool = ThreadPoolExecutor(sending.streams)
        streams = _Streams(client, pool, asked, sending.overwrite, progress)
        try:
            for st in studies:
                batches = _batches(missing[st.uid], sending.batch_mb * 1_000_000)
                problems += streams.send_study(batches, _staged_of(have, st))
        except KeyboardInterrupt:
            # Streams cut off now are discarded whole by the server; those finished
            # are held. Running the command again sends the rest.
            pool.shutdown(wait=False, cancel_futures=True)
            client.close()
            typer.echo("\ninterrupted: run the same command again to resume.", err=True)
            raise typer.Exit(130) from None
        pool.shutdown()
    return progress.files, problems


class _Refusal(Refused):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class _Streams:
    """The streams of one run, sent on ``client`` by the threads of ``pool``."""

    client: httpx.Client
    pool: ThreadPoolExecutor
    asked: Asked
    overwrite: Overwrite
    progress: Progress

    def send_study(self, batches: list[list[Found]], staged: set[int]) -> list[str]:
        """All but the last batch at once, then the last (which archives with --to
        archive); with nothing left to send, the ``staged`` sessions are archived."""
        problems: list[str] = []
        head, last = batches[:-1], batches[-1:]
        params = self._params()
        futures = [self.pool.submit(self._send, b, params) for b in head]
        for future in futures:
            exc = future.exception()
            if exc is not None:
                problems.append(_describe(exc))
        if problems:
            return problems  # the session is not archived with pieces missing
        if last:
            problems += self._send_last(last[0], params)
        elif self.asked.to == Destination.ARCHIVE:
            problems += self._archive_staged(staged)
        return problems

    def _params(self) -> dict[str, str]:
        params: dict[str, str] = {"destination": "prearchive"}
        if self.asked.subject:
            params["subject"] = self.asked.subject
        if self.asked.session:
            params["session"] = self.asked.session
        return params

    def _send_last(self, files: list[Found], params: dict[str, str]) -> list[str]:
        final = dict(params)
        if self.asked.to == Destination.ARCHIVE:
            final.update(destination="archive", overwrite=self.overwrite.value)
        try:
            self._send(files, final)
        except _Refusal as exc:
            return [_describe(exc) + _hint(exc, self.asked.to, self.asked.project)]
        except (Refused, Incomplete) as exc:
            return [_describe(exc)]
        return []

    def _archive_staged(self, staged: set[int]) -> list[str]:
        """Everything was sent before: archive what waits in the prearchive."""
        problems: list[str] = []
        for staged_id in sorted(staged):
            response = self.client.post(f"/api/v1/prearchive/{staged_id}/archive", json={})
            if response.status_code != 200:
                problems.append(
                    f"refused: archiving staged session {staged_id}: {error_message(response)}"
                )
        return problems

    def _send(self, files: list[Found], params: dict[str, str]) -> None:
        """One import of ``files`` as a tar stream; the server takes it whole or not at all."""
        heads, length = _tar_members(files)
        try:
            response = self.client.post(
                f"/api/v1/projects/{self.asked.project}/import",
                params=params,
                content=_stream(heads, self.progress),
                headers={"content-length": str(length), "content-type": "application/x-tar"},
            )
        except httpx.TransportError as exc:
            raise Incomplete(f"a stream was cut off ({exc}); run again to send the rest") from None
        if response.status_code != 200:
            raise _Refusal(error_message(response), response.status_code)
        self.progress.done(len(files))


def _tar_members(files: list[Found]) -> tuple[list[tuple[bytes, Found]], int]:
    """The tar header of each file and the stream's exact length."""
    heads = []
    total = 0
    for f in files:
        info = tarfile.TarInfo(f"{f.SeriesInstanceUID}/{f.SOPInstanceUID}.dcm")
        info.size = f.size
        info.mode = 0o644
        head = info.tobuf(format=tarfile.PAX_FORMAT)
        heads.append((head, f))
        total += len(head) + f.size + (-f.size % tarfile.BLOCKSIZE)
    return heads, total + 2 * tarfile.BLOCKSIZE


def _stream(heads: list[tuple[bytes, Found]], progress: Progress) -> Iterator[bytes]:
    for head, f in heads:
        yield head
        with open(f.path, "rb") as fh:
            sent = 0
            while chunk := fh.read(CHUNK):
                sent += len(chunk)
                if sent > f.size:
                    raise Refused(f"{f.shown} grew while it was being sent")
                progress.add(len(chunk))
                yield chunk
        if sent != f.size:
            raise Refused(f"{f.shown} changed size while it was being sent")
        padding = -f.size % tarfile.BLOCKSIZE
        if padding:
            yield b"\0" * padding
    yield b"\0" * (2 * tarfile.BLOCKSIZE)


def _batches(files: list[Found], batch_bytes: int) -> list[list[Found]]:
    out: list[list[Found]] = [[]]
    size = 0
    for f in files:
        if out[-1] and size + f.size > batch_bytes:
            out.append([])
            size = 0
        out[-1].append(f)
        size += f.size
    return [b for b in out if b]


def _staged_of(have: Held, study: Study) -> set[int]:
    return {
        int(have[f.SOPInstanceUID][1].split(":", 1)[1])
        for f in study.files
        if f.SOPInstanceUID in have and have[f.SOPInstanceUID][1].startswith("prearchive:")
    }


def _hint(exc: _Refusal, to: Destination, project: str) -> str:
    """What to do when the stream that archives is refused access."""
    if exc.status != 403 or to != Destination.ARCHIVE:
        return ""
    return (
        " Nothing was archived; what was sent waits in the prearchive. Send with "
        f"--to prearchive, or ask an owner of project '{project}' to archive it."
    )


def _describe(exc: BaseException) -> str:
    if isinstance(exc, Refused):
        return f"refused: {exc}"
    if isinstance(exc, Incomplete):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
