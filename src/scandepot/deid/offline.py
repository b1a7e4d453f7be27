"""``scandepot deid``: files and folders de-identified into an output folder, offline.

Each input lands under the output folder by its own name, as ``cp -r`` puts it: a file
``a.dcm`` as ``OUT/a.dcm``, a folder ``study`` as ``OUT/study/...`` with its tree kept.
Each file goes through :func:`scandepot.deid.engine.deidentify_file` into a temporary
name in its output folder and gets its name only once written, fsynced and verified, so
no output file is ever half-written. A file that fails (not DICOM, refused by the script,
not de-identified by the verification, an output already there) is listed with its
reason, and the others go on. Hidden files (names starting with ".") are left out.
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from scandepot.deid import engine, pseudonyms
from scandepot.deid.model import Keys, Run, Script
from scandepot.errors import Invalid, ScandepotError
from scandepot.storage.store import StagedFile


@dataclass(frozen=True, slots=True)
class Failed:
    source: Path
    reason: str


@dataclass
class Summary:
    done: list[Path] = field(default_factory=list)  # the outputs written
    failed: list[Failed] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed


def keys(secret: bytes | None, lookup_csv: str | None, *, source: str = "the lookup table") -> Keys:
    """Keys from a secret (the same secret gives the same pseudonyms in every run; none:
    one made for this run) and a pseudonym table: a ``kind,original,pseudonym`` CSV, or
    CTP's lookup table when ``source`` names a ``.properties`` file."""
    table = {}
    if lookup_csv is not None:
        form = pseudonyms.Format.of(source)
        for entry in pseudonyms.parse(lookup_csv, source=source, form=form):
            table[(entry.kind, entry.original)] = entry.pseudonym
    return Keys(secret if secret else secrets.token_bytes(32), table)


def _hidden(path: Path) -> bool:
    return path.name.startswith(".")


def pairs(inputs: list[Path], out: Path) -> Iterator[tuple[Path, Path]]:
    """(source file, output file) for every file of ``inputs``, in name order."""
    for given in inputs:
        if given.is_dir():
            for folder, dirs, files in os.walk(given):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    source = Path(folder) / name
                    if not _hidden(source):
                        yield source, out / given.name / source.relative_to(given)
        else:
            yield given, out / given.name


def one(script: Script, run: Run, source: Path, dest: Path, *, overwrite: bool) -> None:
    """``source`` de-identified to ``dest``, or nothing at ``dest`` (:class:`Invalid`,
    :class:`scandepot.deid.model.Refused`, :class:`~scandepot.deid.verify.NotDeidentified`)."""
    if dest.exists() and not overwrite:
        raise Invalid(f"{dest} exists; not replaced (--overwrite replaces it).", field="out")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with StagedFile(dest.parent / f".{uuid.uuid4().hex}.part", hashed=False) as staged:
        engine.deidentify_file(script, run, source, staged)
        staged.publish(dest, overwrite=overwrite)


def deidentify(
    script: Script,
    run: Run,
    inputs: list[Path],
    out: Path,
    *,
    overwrite: bool = False,
    progress: Callable[[Path, Failed | None], None] | None = None,
) -> Summary:
    """Every file of ``inputs`` into ``out``; see the module docstring."""
    missing = [str(p) for p in inputs if not p.exists()]
    if missing:
        raise Invalid(f"No such file or folder: {', '.join(missing)}.", field="in")
    summary = Summary()
    # Listed first, and the output folder left out, so that an output folder inside an
    # input is never read as input.
    inside = out.resolve()
    todo = [(s, d) for s, d in pairs(inputs, out) if not s.resolve().is_relative_to(inside)]
    for source, dest in todo:
        failed = None
        try:
            one(script, run, source, dest, overwrite=overwrite)
            summary.done.append(dest)
        except ScandepotError as exc:
            failed = Failed(source, exc.message)
        except OSError as exc:
            failed = Failed(source, f"{exc.strerror or exc} ({exc.filename or source})")
        if failed is not None:
            summary.failed.append(failed)
        if progress is not None:
            progress(source, failed)
    return summary
