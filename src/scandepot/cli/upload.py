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
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import httpx
import typer

from scandepot.cli.local_dicom import Found, Study, find, group_studies
from scandepot.cli.remote import TOKEN_HELP, URL_HELP, Refused, Remote, resolve
from scandepot.cli.upload_streams import Held, Sending, send_all
from scandepot.cli.verify import Asked, Places, held, report, verified
from scandepot.ingest.modes import Destination, Overwrite

_RANGE = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")


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
    remote, choice = _remote_and_choice(url, token_file, scans, exclude)
    asked = Asked(project, to, subject=subject, session=session)
    with tempfile.TemporaryDirectory(prefix="scandepot-upload-") as workdir:
        studies = _choose(paths, Path(workdir), choice, asked)
        if dry_run:
            return
        code = _run(remote, asked, Sending(overwrite, streams, batch_mb), studies)
    raise typer.Exit(code)


@dataclass(frozen=True, slots=True)
class ScanChoice:
    """``--scans`` and ``--exclude``: which series are sent."""

    numbers: set[int] | None
    exclude: re.Pattern[str] | None

    def takes(self, series: list[Found]) -> bool:
        first = series[0]
        return (self.numbers is None or first.SeriesNumber in self.numbers) and not (
            self.exclude and self.exclude.search(first.SeriesDescription or "")
        )


def _remote_and_choice(
    url: str | None, token_file: Path | None, scans: str | None, exclude: str | None
) -> tuple[Remote, ScanChoice]:
    try:
        remote = resolve(url, token_file)
        pattern = re.compile(exclude) if exclude else None
    except Refused as exc:
        _fail(str(exc))
    except re.error as exc:
        _fail(f"--exclude is not a regular expression: {exc}")
    return remote, ScanChoice(parse_scans(scans) if scans else None, pattern)


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


def _choose(paths: list[Path], workdir: Path, choice: ScanChoice, asked: Asked) -> list[Study]:
    """The studies found under ``paths``, each with the files of its chosen series; the
    table of what was found is printed, marking those."""
    try:
        found, other = find(paths, workdir)
    except Refused as exc:
        _fail(str(exc))
    studies = group_studies(found)
    chosen = {s[0].SeriesInstanceUID for st in studies for s in st.series() if choice.takes(s)}
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
    if asked.session is not None and len(selected) > 1:
        _fail(f"--session names one session but {len(selected)} are chosen")
    files = _files(selected)
    typer.echo(f"\nChosen: {len(files)} files, {_human(sum(f.size for f in files))}.")
    return selected


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


def _files(studies: list[Study]) -> list[Found]:
    return [f for st in studies for f in st.files]


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _run(remote: Remote, asked: Asked, sending: Sending, studies: list[Study]) -> int:
    """Send what the server does not hold yet, then check every file; the exit code."""
    files = _files(studies)
    with remote.client(connections=sending.streams, timeout=600) as client:
        places = Places(client, asked)
        have = _held_as_asked(client, places, files, sending.overwrite)
        problems = _send_missing(client, asked, sending, studies, have)
        try:
            after = held(client, asked.project, files)
            archived_only = asked.to == Destination.ARCHIVE
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


def _held_as_asked(
    client: httpx.Client, places: Places, files: list[Found], overwrite: Overwrite
) -> Held:
    """What the server holds of ``files`` already, where it need not be sent again."""
    try:
        have = held(client, places.asked.project, files)
        # Held under other labels is not what was asked for: sent again, a staged
        # copy takes the labels asked for (an archived one is reported at the end).
        have = {k: v for k, v in have.items() if places.fits(v[1])}
    except Refused as exc:
        _fail(str(exc))
    if overwrite == Overwrite.DELETE:  # archived copies are to be replaced: send again
        have = {k: v for k, v in have.items() if v[1].startswith("prearchive:")}
    return have


def _send_missing(
    client: httpx.Client, asked: Asked, sending: Sending, studies: list[Study], have: Held
) -> list[str]:
    """Send the files the server does not hold with these bytes; what went wrong."""
    missing = {
        st.uid: [f for f in st.files if have.get(f.SOPInstanceUID, ("", ""))[0] != f.sha256]
        for st in studies
    }
    total = sum(f.size for fs in missing.values() for f in fs)
    count = sum(len(fs) for fs in missing.values())
    typer.echo(
        f"The server holds {len(_files(studies)) - count} of them already; "
        f"sending {count} ({_human(total)}).",
        err=True,
    )
    started = time.monotonic()
    sent, problems = send_all(client, asked, sending, missing, have, studies)
    elapsed = max(time.monotonic() - started, 1e-6)
    if count:
        typer.echo(
            f"Sent {sent} files, {_human(total)} in {elapsed:.1f} s "
            f"({_human(total / elapsed)}/s, {sent / elapsed:.0f} files/s).",
            err=True,
        )
    for p in problems:
        typer.echo(f"error: {p}", err=True)
    return problems
