"""The DICOM on this computer that ``scandepot upload`` sends, grouped by study.

Every path given is searched: folders recursively, and zip/tar/tar.gz files (read with
the same safety rules as the server's import). Files that are not DICOM are left out;
an instance found twice (by SOP Instance UID) counts once.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from scandepot.cli.remote import Refused, file_sha256
from scandepot.dicom.headers import NotDicom, read_file_header
from scandepot.errors import ScandepotError
from scandepot.ingest import unpack


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


def group_studies(found: list[Found]) -> list[Study]:
    by_uid: dict[str, Study] = {}
    for f in found:
        by_uid.setdefault(f.StudyInstanceUID, Study(f.StudyInstanceUID)).files.append(f)
    return list(by_uid.values())


def find(paths: list[Path], workdir: Path, *, jobs: int | None = None) -> tuple[list[Found], int]:
    """Every DICOM instance under ``paths`` (archives expanded into ``workdir``), and how
    many other files were left out."""
    candidates = [c for root in paths for c in _candidates(root, workdir)]
    if len(candidates) < 200:
        examined = [_examine(p) for p in candidates]
    else:  # parsing headers is interpreter work: spread it over the cores
        with ProcessPoolExecutor(jobs) as procs:
            examined = list(procs.map(_examine, candidates, chunksize=64))
    found = [f for f in examined if f is not None]
    unique = list({f.SOPInstanceUID: f for f in found}.values())
    return unique, len(candidates) - len(found)


def _candidates(root: Path, workdir: Path) -> list[tuple[Path, str]]:
    """The files under ``root`` that may be DICOM, members of archives expanded."""
    if not root.exists():
        raise Refused(f"{root}: no such file or folder")
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    candidates: list[tuple[Path, str]] = []
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
    return candidates


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
