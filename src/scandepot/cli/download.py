"""``scandepot download``: fetch a selection from a server, file by file, and verify it.

The server's manifest names every file with its size, SHA-256 and single-file route. The
files are fetched several at a time into ``DEST/.scandepot/partial/``; a file that was
cut off is resumed with ``Range`` and ``If-Range`` (its ETag is its SHA-256, so a file
replaced on the server meanwhile starts again from zero). A finished file is renamed to
its place under DEST. At the end every file is checked against the manifest; a mismatch
removes the file (so that the next run fetches it again) and the command exits 1.

Exit codes: 0 everything verified; 1 files missing or not matching (run again to resume);
2 the request was refused (credentials, access, a selection that names nothing).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, NoReturn

import httpx
import typer

from scandepot.cli.remote import (
    CHUNK,
    TOKEN_HELP,
    URL_HELP,
    Incomplete,
    Refused,
    Remote,
    error_message,
    file_sha256,
    resolve,
)
from scandepot.export.layouts import Layout

STATE = ".scandepot"


@dataclass
class Progress:
    bar: Any
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, n: int) -> None:
        with self.lock:
            self.bar.update(n)


@dataclass
class RateLimit:
    """At most ``rate`` bytes a second over all transfers (``0``: no limit)."""

    rate: int
    started: float = field(default_factory=time.monotonic)
    sent: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, n: int) -> None:
        if self.rate <= 0:
            return
        with self.lock:
            self.sent += n
            due = self.started + self.sent / self.rate
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)


def _target(dest: Path, name: str) -> Path:
    """Where a manifest name goes under DEST; refuses names that would leave it."""
    parts = PurePosixPath(name).parts
    if not parts or name.startswith("/") or any(p in ("..", ".", "") for p in parts):
        raise Refused(f"the server sent an unsafe file name: {name!r}")
    if parts[0] == STATE:
        raise Refused(f"the server sent a file name inside {STATE}/: {name!r}")
    return dest.joinpath(*parts)


def _partial(dest: Path, entry: dict[str, Any]) -> Path:
    key = hashlib.sha256(entry["name"].encode()).hexdigest()[:40]
    return dest / STATE / "partial" / key


def _fetch(
    client: httpx.Client,
    dest: Path,
    entry: dict[str, Any],
    progress: Progress,
    limit: RateLimit,
) -> None:
    final = _target(dest, entry["name"])
    part = _partial(dest, entry)
    offset = part.stat().st_size if part.exists() else 0
    etag = f'"{entry["sha256"]}"'
    if offset > entry["size"]:
        part.unlink()
        offset = 0
    headers = {"range": f"bytes={offset}-", "if-range": etag} if offset else {}
    if offset < entry["size"] or entry["size"] == 0:
        try:
            with client.stream("GET", entry["url"], headers=headers) as response:
                if response.status_code == 416:  # nothing left to send: start over
                    part.unlink(missing_ok=True)
                    raise Incomplete(f"{entry['name']}: the server refused the range; run again")
                if response.status_code not in (200, 206):
                    raise Refused(f"{entry['name']}: {error_message(response)}")
                mode = "ab" if response.status_code == 206 else "wb"
                if mode == "wb" and offset:
                    progress.add(-offset)
                with open(part, mode) as out:
                    for chunk in response.iter_bytes(CHUNK):
                        out.write(chunk)
                        progress.add(len(chunk))
                        limit.take(len(chunk))
        except httpx.TransportError as exc:
            raise Incomplete(f"{entry['name']}: {exc}") from None
    if part.stat().st_size != entry["size"]:
        raise Incomplete(f"{entry['name']}: got {part.stat().st_size} of {entry['size']} bytes")
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(part, final)


def _manifest(client: httpx.Client, project: str, params: dict[str, Any]) -> dict[str, Any]:
    try:
        response = client.get(f"/api/v1/projects/{project}/manifest", params=params)
    except httpx.TransportError as exc:
        raise Refused(f"cannot reach the server: {exc}") from None
    if response.status_code != 200:
        raise Refused(error_message(response))
    manifest: dict[str, Any] = response.json()
    return manifest


def download(
    dest: Path = typer.Argument(..., help="Folder to download into (created if missing)."),
    project: str = typer.Option(..., "--project", help="Project ID."),
    session: list[str] = typer.Option(
        [], "--session", help="Session label; repeat or separate with commas (default: all)."
    ),
    subject: list[str] = typer.Option(
        [], "--subject", help="Only sessions of these subjects; repeat or use commas."
    ),
    date_from: str | None = typer.Option(None, "--date-from", help="Sessions on or after."),
    date_to: str | None = typer.Option(None, "--date-to", help="Sessions on or before."),
    scans: str | None = typer.Option(None, "--scans", help="Scan IDs (1,3) or ALL."),
    scan_types: str | None = typer.Option(
        None, "--scan-types", help="RE2 regular expression searched in scan types."
    ),
    resources: str | None = typer.Option(
        None, "--resources", help="Resource labels, e.g. DICOM,NIFTI (default: all)."
    ),
    file: list[str] = typer.Option(
        [],
        "--file",
        help="A single file, e.g. sessions/MR1/scans/3/resources/DICOM/files/0001.dcm "
        "(without sessions/MR1/ when one --session is given); repeat for more.",
    ),
    layout: Layout = typer.Option(Layout.TREE, "--layout", help="Folder layout under DEST."),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    token_file: Path | None = typer.Option(None, "--token-file", help=TOKEN_HELP),
    jobs: int = typer.Option(4, "--jobs", min=1, max=32, help="Files fetched at once."),
    limit_rate: int = typer.Option(
        0, "--limit-rate", min=0, help="Bytes per second over all transfers (0: no limit)."
    ),
) -> None:
    """Download a selection from a server into a folder: resumes, then verifies every file."""
    try:
        remote = resolve(url, token_file)
    except Refused as exc:
        _refused([exc])
    params: dict[str, Any] = {
        "layout": layout.value,
        "sessions": session or None,
        "subjects": subject or None,
        "date_from": date_from,
        "date_to": date_to,
        "scans": scans,
        "scan_types": scan_types,
        "resources": resources,
        "files": file or None,
    }
    params = {k: v for k, v in params.items() if v}
    _download(remote, project, params, dest, jobs=jobs, limit_rate=limit_rate)


def _download(
    remote: Remote, project: str, params: dict[str, Any], dest: Path, *, jobs: int, limit_rate: int
) -> None:
    """Fetch what the manifest names and ``dest`` lacks, then verify every file."""
    with remote.client(connections=jobs) as client:
        try:
            manifest = _manifest(client, project, params)
            targets = [_target(dest, e["name"]) for e in manifest["files"]]
        except Refused as exc:
            _refused([exc])
        problems = _fetch_missing(client, dest, manifest, targets, jobs, limit_rate)
    if any(isinstance(p, Refused) for p in problems):
        _refused(problems)
    _finish(dest, manifest, targets, problems, jobs)


def _refused(problems: list[Exception]) -> NoReturn:
    for p in problems:
        typer.echo(f"error: {p}", err=True)
    raise typer.Exit(2) from None


def _fetch_missing(
    client: httpx.Client,
    dest: Path,
    manifest: dict[str, Any],
    targets: list[Path],
    jobs: int,
    limit_rate: int,
) -> list[Exception]:
    """Fetch the files not in place yet, resuming those begun; what did not arrive."""
    entries: list[dict[str, Any]] = manifest["files"]
    (dest / STATE / "partial").mkdir(parents=True, exist_ok=True)
    todo = [e for e, t in zip(entries, targets, strict=True) if not _present(t, e)]
    done_bytes = sum(e["size"] for e in entries) - sum(e["size"] for e in todo)
    done_bytes += sum(_partial_size(dest, e) for e in todo)
    total = manifest["total_size"]
    typer.echo(
        f"{len(entries)} files, {total} bytes; {len(entries) - len(todo)} already here",
        err=True,
    )
    return _transfer(client, dest, todo, total, done_bytes, jobs, limit_rate)


def _finish(
    dest: Path,
    manifest: dict[str, Any],
    targets: list[Path],
    problems: list[Exception],
    jobs: int,
) -> None:
    """Check every file; exit 1 when one is missing or differs, else save the manifest."""
    entries: list[dict[str, Any]] = manifest["files"]
    bad = _verify(entries, targets, jobs)
    for p in problems:
        typer.echo(f"incomplete: {p}", err=True)
    for name in bad:
        typer.echo(f"checksum mismatch (removed, run again): {name}", err=True)
    if problems or bad:
        typer.echo(f"{len(problems) + len(bad)} file(s) not verified; run again to resume.")
        raise typer.Exit(1)
    _write_manifest(dest, manifest)
    typer.echo(f"OK: {len(entries)} files verified in {dest}")


def _present(target: Path, entry: dict[str, Any]) -> bool:
    return target.is_file() and target.stat().st_size == entry["size"]


def _partial_size(dest: Path, entry: dict[str, Any]) -> int:
    part = _partial(dest, entry)
    return min(part.stat().st_size, entry["size"]) if part.exists() else 0


def _transfer(
    client: httpx.Client,
    dest: Path,
    todo: list[dict[str, Any]],
    total: int,
    done: int,
    jobs: int,
    limit_rate: int,
) -> list[Exception]:
    problems: list[Exception] = []
    limit = RateLimit(limit_rate)
    with typer.progressbar(length=total, label="downloading", file=sys.stderr) as bar:
        bar.update(done)
        progress = Progress(bar)
        with ThreadPoolExecutor(jobs) as pool:
            futures = [pool.submit(_fetch, client, dest, e, progress, limit) for e in todo]
            for future in futures:
                exc = future.exception()
                if isinstance(exc, Refused | Incomplete):
                    problems.append(exc)
                elif exc is not None:
                    raise exc
    return problems


def _verify(entries: list[dict[str, Any]], targets: list[Path], jobs: int) -> list[str]:
    """Names of the files that are missing or do not match; mismatched ones are removed."""

    def check(pair: tuple[dict[str, Any], Path]) -> str | None:
        entry, target = pair
        if not target.is_file():
            return None  # not fetched: reported as incomplete
        if target.stat().st_size == entry["size"] and file_sha256(target) == entry["sha256"]:
            return None
        target.unlink()
        return str(entry["name"])

    with ThreadPoolExecutor(jobs) as pool:
        results = pool.map(check, zip(entries, targets, strict=True))
    return [name for name in results if name is not None]


def _write_manifest(dest: Path, manifest: dict[str, Any]) -> None:
    (dest / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    sums = "".join(f"{e['sha256']}  {e['name']}\n" for e in manifest["files"])
    (dest / "manifest.sha256").write_text(sums)
