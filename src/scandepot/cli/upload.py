"""``scandepot upload``: find DICOM in folders and archives, choose scans, send, verify.

1. Every PATH is searched: folders recursively, and zip/tar/tar.gz files (read with the
   same safety rules as the server's import). Files that are not DICOM are left out.
2. The instances are grouped into sessions by Study Instance UID and the scans of each
   (series number, description, modality, files, size) are printed; ``--scans`` and
   ``--exclude`` choose among them.
3. The server is asked which instances it holds already (by SOP Instance UID and
   SHA-256); only the rest is sent, as tar streams of one study each, several at once.
   Each stream is one import into the prearchive, held there; with ``--to archive`` the
   last stream of each session archives it (with ``--overwrite``). Interrupted, a stream
   leaves nothing behind on the server; run the command again to send what is missing.
4. At the end the server is asked again: every instance must be held with the local
   SHA-256 where the user asked for it (``--subject``, ``--session``, and the archive
   with ``--to archive``; see cli.verify), or the command exits 1.

Exit codes: 0 everything sent and verified; 1 something is missing or differs (run
again); 2 refused (credentials, access, bad options, nothing to send): running again
would not help, and the command does not suggest it.
"""

from __future__ import annotations

import re
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
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
from scandepot.cli.verify import Asked, Places, report, verified
from scandepot.dicom.headers import NotDicom, read_file_header
from scandepot.errors import ScandepotError
from scandepot.ingest import unpack
from scandepot.ingest.modes import Destination, Overwrite

HELD_BATCH = 5000
_RANGE = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")


@dataclass(frozen=True, slots=True)
class Found:
    path: Path  # a temporary file for a member of an archive
    shown: str  # the name the user knows: the path given, or archive:member
    size: int
    sha256: str
    SOPInstanceUID: str
    StudyInstanceUID: str
    SeriesInstanceUID: str
    SeriesNumber: int | None
    SeriesDescription: str | None
    Modality: str | None
    PatientName: str | None
    PatientID: str | None


@dataclass
class Study:
    uid: str
    files: list[Found] = field(default_factory=list)

    def series(self) -> list[list[Found]]:
        by_uid: dict[str, list[Found]] = {}
        for f in self.files:
            by_uid.setdefault(f.SeriesInstanceUID, []).append(f)
        return sorted(
            by_uid.values(), key=lambda s: (s[0].SeriesNumber is None, s[0].SeriesNumber or 0)
        )


def _examine(candidate: tuple[Path, str]) -> Found | None:
    path, shown = candidate
    try:
        header = read_file_header(path)
    except NotDicom:
        return None
    return Found(
        path=path,
        shown=shown,
        size=path.stat().st_size,
        sha256=file_sha256(path),
        SOPInstanceUID=header.SOPInstanceUID,
        StudyInstanceUID=header.StudyInstanceUID,
        SeriesInstanceUID=header.SeriesInstanceUID,
        SeriesNumber=header.SeriesNumber,
        SeriesDescription=header.SeriesDescription,
        Modality=header.Modality,
        PatientName=header.PatientName,
        PatientID=header.PatientID,
    )


def _expand(archive: Path, into: Path) -> Iterator[tuple[Path, str]]:
    """The members of a local archive, written under ``into`` by number (never by their
    own names), with the server's safety rules; each with the name to show for it."""
    limits = unpack.Limits(max_expanded_bytes=1 << 50, max_ratio=1e9, max_members=1 << 40)
    fmt = unpack.sniff(archive)
    folder = Path(tempfile.mkdtemp(dir=into))
    for n, member in enumerate(unpack.members(archive, fmt, limits)):
        if isinstance(member, str) or unpack.is_dicomdir(member.name):
            continue
        target = folder / f"{n:08d}"
        with open(target, "wb") as out:
            for chunk in member.chunks():
                out.write(chunk)
        yield target, f"{archive}:{member.name}"


def _is_archive(path: Path) -> bool:
    try:
        unpack.sniff(path)
    except ScandepotError:
        return False
    return True


def find(paths: list[Path], workdir: Path, *, jobs: int | None = None) -> tuple[list[Found], int]:
    """Every DICOM instance under ``paths`` (archives expanded into ``workdir``), and how
    many other files were left out."""
    candidates: list[tuple[Path, str]] = []
    for root in paths:
        if not root.exists():
            raise Refused(f"{root}: no such file or folder")
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            if path.name.upper() == "DICOMDIR":
                continue
            if _is_archive(path):
                try:
                    candidates.extend(_expand(path, workdir))
                except ScandepotError as exc:
                    raise Refused(f"{path}: {exc.message}") from None
            else:
                candidates.append((path, str(path)))
    if len(candidates) < 200:
        examined = [_examine(p) for p in candidates]
    else:  # parsing headers is interpreter work: spread it over the cores
        with ProcessPoolExecutor(jobs) as procs:
            examined = list(procs.map(_examine, candidates, chunksize=64))
    found = [f for f in examined if f is not None]
    unique = list({f.SOPInstanceUID: f for f in found}.values())
    return unique, len(candidates) - len(found)


def parse_scans(text: str) -> set[int]:
    """``1,3-5`` -> {1, 3, 4, 5}."""
    chosen: set[int] = set()
    for part in text.split(","):
        match = _RANGE.match(part)
        if not match:
            raise typer.BadParameter(f"{part!r} is not a series number or range (e.g. 1,3-5)")
        first, last = int(match[1]), int(match[2] or match[1])
        if last < first:
            raise typer.BadParameter(f"{part!r}: the range runs backwards")
        chosen.update(range(first, last + 1))
    return chosen


def _human(size: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"


def print_table(studies: list[Study], chosen: set[str]) -> None:
    for study in studies:
        first = study.files[0]
        typer.echo(
            f"\nSession {first.PatientID or '?'} (patient {first.PatientName or '?'}), "
            f"study {study.uid}"
        )
        typer.echo(
            f"  {'':1} {'series':>6}  {'description':<32} {'mod':<4} {'files':>6} {'size':>9}"
        )
        for series in study.series():
            s = series[0]
            mark = "x" if s.SeriesInstanceUID in chosen else " "
            typer.echo(
                f"  {mark} {s.SeriesNumber if s.SeriesNumber is not None else '-':>6}  "
                f"{(s.SeriesDescription or '')[:32]:<32} {(s.Modality or '')[:4]:<4} "
                f"{len(series):>6} {_human(sum(f.size for f in series)):>9}"
            )


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


def _send(
    client: httpx.Client,
    project: str,
    files: list[Found],
    params: dict[str, str],
    progress: Progress,
) -> None:
    """One import of ``files`` as a tar stream; the server takes it whole or not at all."""
    heads, length = _tar_members(files)
    try:
        response = client.post(
            f"/api/v1/projects/{project}/import",
            params=params,
            content=_stream(heads, progress),
            headers={"content-length": str(length), "content-type": "application/x-tar"},
        )
    except httpx.TransportError as exc:
        raise Incomplete(f"a stream was cut off ({exc}); run again to send the rest") from None
    if response.status_code != 200:
        raise _Refusal(error_message(response), response.status_code)
    progress.done(len(files))


class _Refusal(Refused):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def held(client: httpx.Client, project: str, files: list[Found]) -> dict[str, tuple[str, str]]:
    """SOP Instance UID -> (SHA-256, where) for what the server holds of ``files``."""
    found: dict[str, tuple[str, str]] = {}
    for start in range(0, len(files), HELD_BATCH):
        batch = files[start : start + HELD_BATCH]
        try:
            response = client.post(
                f"/api/v1/projects/{project}/held",
                json={
                    "instances": [
                        {"SOPInstanceUID": f.SOPInstanceUID, "sha256": f.sha256} for f in batch
                    ]
                },
            )
        except httpx.TransportError as exc:
            raise Refused(f"cannot reach the server: {exc}") from None
        if response.status_code != 200:
            raise Refused(error_message(response))
        for item in response.json()["held"]:
            found[item["SOPInstanceUID"]] = (item["sha256"], item["where"])
    return found


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


def upload(
    paths: list[Path] = typer.Argument(..., help="Folders, DICOM files, zip or tar files."),
    project: str = typer.Option(..., "--project", help="Project ID."),
    subject: str | None = typer.Option(None, "--subject", help="Subject label for all."),
    session: str | None = typer.Option(
        None, "--session", help="Session label (only when one session is chosen)."
    ),
    to: Destination = typer.Option(Destination.PREARCHIVE, "--to", help="Where the sessions go."),
    overwrite: Overwrite = typer.Option(
        Overwrite.NONE, "--overwrite", help="With --to archive: when the session exists."
    ),
    scans: str | None = typer.Option(
        None, "--scans", help="Series numbers to send, e.g. 1,3-5 (default: all)."
    ),
    exclude: str | None = typer.Option(
        None, "--exclude", help="Leave out series whose description matches this regex."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="List what would be sent; send nothing."),
    streams: int = typer.Option(4, "--streams", min=1, max=16, help="Uploads at once."),
    batch_mb: int = typer.Option(
        64, "--batch-mb", min=1, help="Megabytes per upload stream (a resumable unit)."
    ),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    token_file: Path | None = typer.Option(None, "--token-file", help=TOKEN_HELP),
) -> None:
    """Upload DICOM from folders and archives: choose scans, send in parallel, resume, verify."""
    try:
        remote = resolve(url, token_file)
        pattern = re.compile(exclude) if exclude else None
    except Refused as exc:
        _fail(str(exc))
    except re.error as exc:
        _fail(f"--exclude is not a regular expression: {exc}")
    wanted = parse_scans(scans) if scans else None
    with tempfile.TemporaryDirectory(prefix="scandepot-upload-") as workdir:
        try:
            found, other = find(paths, Path(workdir))
        except Refused as exc:
            _fail(str(exc))
        studies = _group(found)
        chosen = {
            s[0].SeriesInstanceUID
            for study in studies
            for s in study.series()
            if (wanted is None or s[0].SeriesNumber in wanted)
            and not (pattern and pattern.search(s[0].SeriesDescription or ""))
        }
        typer.echo(
            f"Found {len(found)} DICOM files in {len(studies)} session(s); "
            f"{other} other file(s) left out."
        )
        print_table(studies, chosen)
        selected = [
            Study(st.uid, [f for f in st.files if f.SeriesInstanceUID in chosen]) for st in studies
        ]
        selected = [st for st in selected if st.files]
        if not selected:
            _fail("no scans chosen: nothing to send")
        if session is not None and len(selected) > 1:
            _fail(f"--session names one session but {len(selected)} are chosen")
        files = [f for st in selected for f in st.files]
        typer.echo(f"\nChosen: {len(files)} files, {_human(sum(f.size for f in files))}.")
        if dry_run:
            return
        asked = Asked(project, to, subject=subject, session=session)
        code = _run(remote, asked, selected, files, overwrite, streams, batch_mb)
    raise typer.Exit(code)


def _group(found: list[Found]) -> list[Study]:
    by_uid: dict[str, Study] = {}
    for f in found:
        by_uid.setdefault(f.StudyInstanceUID, Study(f.StudyInstanceUID)).files.append(f)
    return list(by_uid.values())


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _run(
    remote: Remote,
    asked: Asked,
    studies: list[Study],
    files: list[Found],
    overwrite: Overwrite,
    streams: int,
    batch_mb: int,
) -> int:
    project, subject, session, to = asked.project, asked.subject, asked.session, asked.to
    with remote.client(connections=streams, timeout=600) as client:
        places = Places(client, asked)
        try:
            have = held(client, project, files)
            # Held under other labels is not what was asked for: sent again, a staged
            # copy takes the labels asked for (an archived one is reported at the end).
            have = {k: v for k, v in have.items() if places.fits(v[1])}
        except Refused as exc:
            _fail(str(exc))
        if overwrite == Overwrite.DELETE:  # archived copies are to be replaced: send again
            have = {k: v for k, v in have.items() if v[1].startswith("prearchive:")}
        missing = {
            st.uid: [f for f in st.files if have.get(f.SOPInstanceUID, ("", ""))[0] != f.sha256]
            for st in studies
        }
        total = sum(f.size for fs in missing.values() for f in fs)
        count = sum(len(fs) for fs in missing.values())
        typer.echo(
            f"The server holds {len(files) - count} of them already; "
            f"sending {count} ({_human(total)}).",
            err=True,
        )
        params: dict[str, str] = {"destination": "prearchive"}
        if subject:
            params["subject"] = subject
        if session:
            params["session"] = session
        problems: list[str] = []
        started = time.monotonic()
        with typer.progressbar(length=max(total, 1), label="uploading", file=sys.stderr) as bar:
            progress = Progress(bar)
            pool = ThreadPoolExecutor(streams)
            try:
                for st in studies:
                    batches = _batches(missing[st.uid], batch_mb * 1_000_000)
                    problems += _send_study(
                        client,
                        pool,
                        project,
                        batches,
                        params,
                        progress,
                        to,
                        overwrite,
                        _staged_of(have, st),
                    )
            except KeyboardInterrupt:
                # Streams cut off now are discarded whole by the server; those finished
                # are held. Running the command again sends the rest.
                pool.shutdown(wait=False, cancel_futures=True)
                client.close()
                typer.echo("\ninterrupted: run the same command again to resume.", err=True)
                raise typer.Exit(130) from None
            pool.shutdown()
        elapsed = max(time.monotonic() - started, 1e-6)
        if count:
            typer.echo(
                f"Sent {progress.files} files, {_human(total)} in {elapsed:.1f} s "
                f"({_human(total / elapsed)}/s, {progress.files / elapsed:.0f} files/s).",
                err=True,
            )
        for p in problems:
            typer.echo(f"error: {p}", err=True)
        try:
            after = held(client, project, files)
            archived_only = to == Destination.ARCHIVE
            bad = [f for f in files if not verified(f, after, places, archived_only)]
        except Refused as exc:
            _fail(str(exc))
    refused = any(p.startswith("refused") for p in problems)
    if bad:
        return report(bad, files, after, refused=refused)
    where = sorted({after[f.SOPInstanceUID][1] for f in files})
    typer.echo(f"Verified: all {len(files)} files are on the server ({', '.join(where)}).")
    if problems:
        return 2 if refused else 1
    return 0


def _staged_of(have: dict[str, tuple[str, str]], study: Study) -> set[int]:
    return {
        int(have[f.SOPInstanceUID][1].split(":", 1)[1])
        for f in study.files
        if f.SOPInstanceUID in have and have[f.SOPInstanceUID][1].startswith("prearchive:")
    }


def _send_study(
    client: httpx.Client,
    pool: ThreadPoolExecutor,
    project: str,
    batches: list[list[Found]],
    params: dict[str, str],
    progress: Progress,
    to: Destination,
    overwrite: Overwrite,
    staged: set[int],
) -> list[str]:
    """All but the last batch at once, then the last (which archives with --to archive)."""
    problems: list[str] = []
    head, last = batches[:-1], batches[-1:]
    futures = [pool.submit(_send, client, project, b, params, progress) for b in head]
    for future in futures:
        exc = future.exception()
        if exc is not None:
            problems.append(_describe(exc))
    if problems:
        return problems  # the session is not archived with pieces missing
    final = dict(params)
    if to == Destination.ARCHIVE:
        final.update(destination="archive", overwrite=overwrite.value)
    if last:
        try:
            _send(client, project, last[0], final, progress)
        except _Refusal as exc:
            problems.append(_describe(exc) + _hint(exc, to, project))
        except (Refused, Incomplete) as exc:
            problems.append(_describe(exc))
    elif to == Destination.ARCHIVE:
        for staged_id in sorted(staged):  # everything was sent before: archive what waits
            response = client.post(f"/api/v1/prearchive/{staged_id}/archive", json={})
            if response.status_code != 200:
                problems.append(
                    f"refused: archiving staged session {staged_id}: {error_message(response)}"
                )
    return problems


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
