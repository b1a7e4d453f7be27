"""``scandepot download``: fetch a selection from a server, file by file, and verify it.

The server's manifest names every file with its size, SHA-256 and single-file route. The
files are fetched several at a time into ``DEST/.scandepot/partial/``; a file that was
cut off is resumed with ``Range`` and ``If-Range`` (its ETag is its SHA-256, so a file
replaced on the server meanwhile starts again from zero). A finished file is renamed to
its place under DEST. At the end every file is checked against the manifest; a mismatch
removes the file (so that the next run fetches it again) and the command exits 1.

With ``--list FILE`` the files are those of a download list saved from the server (the
web page's **Save as list**, or the ``download-list`` routes; see
:mod:`scandepot.export.list_format`) instead of a selection: fetched, resumed and
verified the same way, from the server in force, which must be the one the list names.

A fetched file is checked (size and SHA-256) before it is moved to its place: one that does
not match is removed and reported, never left in place.

Exit codes: 0 everything verified; 1 files missing or not matching (run again to resume);
2 the request was refused (credentials, access, a selection that names nothing, a list
that cannot be read).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, NoReturn

import httpx
import typer

from scandepot.cli import download_deid
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
from scandepot.errors import Invalid
from scandepot.export import list_format
from scandepot.export.layouts import Layout

STATE = ".scandepot"


class Mismatch(Exception):
    """A fetched file is not what the manifest says: removed, to be fetched again."""


@dataclass
class Progress:
    bar: Any
    lock: threading.Lock = field(default_factory=threading.Lock)
    checked: set[str] = field(default_factory=set)  # fetched and verified in this run

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
    """Fetch one file, resuming what is there, check it, and only then put it in place."""
    final = _target(dest, entry["name"])
    part = _partial(dest, entry)
    offset = part.stat().st_size if part.exists() else 0
    etag = f'"{entry["sha256"]}"'
    if offset > entry["size"]:
        part.unlink()
        offset = 0
    headers = {"range": f"bytes={offset}-", "if-range": etag} if offset else {}
    if offset < entry["size"] or entry["size"] == 0:
        _get(client, entry, part, offset, headers, progress, limit)
    got = part.stat().st_size
    if got > entry["size"] or (got == entry["size"] and file_sha256(part) != entry["sha256"]):
        part.unlink()
        raise Mismatch(f"checksum mismatch (removed, run again): {entry['name']}")
    if got != entry["size"]:
        raise Incomplete(f"{entry['name']}: got {got} of {entry['size']} bytes")
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(part, final)
    progress.checked.add(entry["name"])


def _get(
    client: httpx.Client,
    entry: dict[str, Any],
    part: Path,
    offset: int,
    headers: dict[str, str],
    progress: Progress,
    limit: RateLimit,
) -> None:
    """Fetch ``entry`` into ``part``, from ``offset`` on when the server allows it."""
    try:
        with client.stream("GET", entry["url"], headers=headers) as response:
            if response.status_code == 416:  # nothing left to send: start over
                part.unlink(missing_ok=True)
                raise Incomplete(f"{entry['name']}: the server refused the range; run again")
            if response.status_code not in (200, 206):
                response.read()  # the error's body, for its message
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


def _manifest(client: httpx.Client, project: str, params: dict[str, Any]) -> dict[str, Any]:
    try:
        response = client.get(f"/api/v1/projects/{project}/manifest", params=params)
    except httpx.TransportError as exc:
        raise Refused(f"cannot reach the server: {exc}") from None
    if response.status_code != 200:
        raise Refused(error_message(response))
    manifest: dict[str, Any] = response.json()
    return manifest


DeidOption = typer.Option(
    False,
    "--deid",
    help="De-identified by the project's export script: DICOM only, one stream, checked "
    "against its manifest (no resume).",
)
BurnedInOption = typer.Option(
    False, "--allow-burned-in", help="With --deid: let out instances with burned-in text."
)


def download(
    dest: Path = typer.Argument(..., help="Folder to download into (created if missing)."),
    project: str | None = typer.Option(None, "--project", help="Project ID (unless --list)."),
    list_file: Path | None = typer.Option(
        None,
        "--list",
        help="A download list (XNAT catalog XML) saved from the server: fetch the files it "
        "names, instead of a selection.",
    ),
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
    deid: bool = DeidOption,
    allow_burned_in: bool = BurnedInOption,
) -> None:
    """Download a selection or a saved list from a server: resumes, verifies every file."""
    remote = _remote(url, token_file)
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
    if deid:  # one stream, made as it is sent: see download_deid
        _deidentified(remote, project, params, list_file, dest, allow_burned_in)
    chosen = project is not None or set(params) != {"layout"} or layout is not Layout.TREE
    source = _source(remote, project, params, list_file, chosen=chosen)
    _download(remote, source, dest, jobs=jobs, limit_rate=limit_rate)


Source = Callable[[httpx.Client], dict[str, Any]]


def _remote(url: str | None, token_file: Path | None) -> Remote:
    try:
        return resolve(url, token_file)
    except Refused as exc:
        _refused([exc])


def _deidentified(
    remote: Remote,
    project: str | None,
    params: dict[str, Any],
    list_file: Path | None,
    dest: Path,
    allow_burned_in: bool,
) -> NoReturn:
    if list_file is not None or project is None:
        _refused([Refused("--deid takes --project and a selection, not --list")])
    if allow_burned_in:
        params = {**params, "allow_burned_in": "true"}
    try:
        download_deid.fetch(remote, project, params, dest, _target)
    except Refused as exc:
        _refused([exc])
    except Incomplete as exc:
        typer.echo(f"incomplete: {exc}", err=True)
        raise typer.Exit(1) from None
    raise typer.Exit(0)


def _source(
    remote: Remote,
    project: str | None,
    params: dict[str, Any],
    list_file: Path | None,
    *,
    chosen: bool,
) -> Source:
    """Where the manifest comes from: the server, for a selection; the list, read now."""
    if list_file is not None:
        if chosen:
            _refused(
                [
                    Refused(
                        "--list names the files itself: leave out --project, --layout and "
                        "the selection options"
                    )
                ]
            )
        try:
            listed = read_list(list_file, remote)
        except Refused as exc:
            _refused([exc])
        return lambda client: listed
    if project is None:
        _refused([Refused("say what to download: --project and a selection, or --list FILE")])
    return lambda client: _manifest(client, project, params)


def read_list(path: Path, remote: Remote) -> dict[str, Any]:
    """A download list as a manifest; refused when it cannot be read, is not a sound list,
    or names files on another server than ``remote`` (the token is for that one alone)."""
    try:
        if path.stat().st_size > list_format.MAX_BYTES:
            raise Refused(f"{path}: larger than {list_format.MAX_BYTES} bytes")
        body = path.read_bytes()
    except OSError as exc:
        raise Refused(f"cannot read the list {path}: {exc.strerror}") from None
    try:
        doc = list_format.parse(body)
    except Invalid as exc:
        raise Refused(f"{path}: {exc.message}") from None
    base = remote.url.rstrip("/")
    elsewhere = [
        e
        for e in doc.entries
        if not e.uri.startswith(base + "/")
        and not (e.uri.startswith("/") and not e.uri.startswith("//"))
    ]
    if elsewhere:
        server = doc.server or elsewhere[0].uri
        raise Refused(
            f"{path}: {len(elsewhere)} file(s) are on {server}, not on {base}, the server in "
            f"force; give --url {server} (and a token for it)"
        )
    files = [
        {"name": e.path, "size": e.size, "sha256": e.sha256, "md5": e.md5, "url": e.uri}
        for e in doc.entries
    ]
    head = {"list": str(path), "project": doc.project, "layout": doc.layout}
    return {**head, "file_count": len(files), "total_size": doc.total_size, "files": files}


def _download(remote: Remote, source: Source, dest: Path, *, jobs: int, limit_rate: int) -> None:
    """Fetch what the manifest names and ``dest`` lacks, then verify every file."""
    with remote.client(connections=jobs) as client:
        try:
            manifest = source(client)
            targets = [_target(dest, e["name"]) for e in manifest["files"]]
        except Refused as exc:
            _refused([exc])
        problems, checked = _fetch_missing(client, dest, manifest, targets, jobs, limit_rate)
    if any(isinstance(p, Refused) for p in problems):
        _refused(problems)
    _finish(dest, manifest, targets, problems, jobs, checked)


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
) -> tuple[list[Exception], set[str]]:
    """Fetch the files not in place yet, resuming those begun; what did not arrive, and
    the names of those fetched and verified."""
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
    checked: set[str],
) -> None:
    """Check every file (but those just fetched: checked already); exit 1 when one is
    missing or differs, else save the manifest."""
    entries: list[dict[str, Any]] = manifest["files"]
    bad = _verify(entries, targets, jobs, checked)
    for p in problems:
        typer.echo(str(p) if isinstance(p, Mismatch) else f"incomplete: {p}", err=True)
    for name in bad:
        typer.echo(f"checksum mismatch (removed, run again): {name}", err=True)
    if problems or bad:
        typer.echo(f"{len(problems) + len(bad)} file(s) not verified; run again to resume.")
        if "list" in manifest and (bad or any(isinstance(p, Mismatch) for p in problems)):
            typer.echo(
                "A file changed on the server since the list was saved never matches it: "
                "save the list again."
            )
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
) -> tuple[list[Exception], set[str]]:
    problems: list[Exception] = []
    limit = RateLimit(limit_rate)
    with typer.progressbar(length=total, label="downloading", file=sys.stderr) as bar:
        bar.update(done)
        progress = Progress(bar)
        with ThreadPoolExecutor(jobs) as pool:
            futures = [pool.submit(_fetch, client, dest, e, progress, limit) for e in todo]
            for future in futures:
                exc = future.exception()
                if isinstance(exc, Refused | Incomplete | Mismatch):
                    problems.append(exc)
                elif exc is not None:
                    raise exc
    return problems, progress.checked


def _verify(
    entries: list[dict[str, Any]], targets: list[Path], jobs: int, checked: set[str]
) -> list[str]:
    """Names of the files that do not match; those are removed. Missing ones and those
    in ``checked`` are not named."""

    def check(pair: tuple[dict[str, Any], Path]) -> str | None:
        entry, target = pair
        if entry["name"] in checked or not target.is_file():
            return None  # verified as fetched, or not fetched: reported as incomplete
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
