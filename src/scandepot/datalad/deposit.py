"""Deposits: a visit's metadata and dataset representation, made in a work folder and
then put where they are served (the server's deposit folder) or where the INM-ICF
store layout wants them (``scandepot datalad deposit --store-dir``).

The four files of a visit, beside its ``{visit}_dicom.tar``:
``{visit}_metadata_tarball.json``, ``{visit}_metadata_dicoms.json`` (metadata.py) and
``{visit}_XDLRA--refs``, ``{visit}_XDLRA--repo-export`` (representation.py). They are
made whole before any is put in place; each is then written through storage/ (temporary
name, fsync, rename), the representation's repository before the refs that name it, so
a clone never finds refs to commits it cannot fetch.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from scandepot.datalad import metadata, representation, tarball
from scandepot.datalad.visits import Visit
from scandepot.errors import ScandepotError
from scandepot.storage.store import StagedFile, make_dirs

# Runs a program with an environment, raising when it fails (a job's run.run, or plain
# subprocess for the command line).
Runner = Callable[[list[str], dict[str, str]], None]
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "scandepot",
    "GIT_AUTHOR_EMAIL": "scandepot@localhost",
    "GIT_COMMITTER_NAME": "scandepot",
    "GIT_COMMITTER_EMAIL": "scandepot@localhost",
}


class ToolMissing(ScandepotError):
    code = "tool_missing"
    status = 503


def check_tools() -> None:
    """DataLad datasets need git and git-annex on this server (the Debian packages git
    and git-annex; scripts/ensure-services.sh installs them)."""
    for tool in ("git", "git-annex"):
        if shutil.which(tool, path=environment()["PATH"]) is None:
            raise ToolMissing(
                f"{tool} is not installed on this server: DataLad datasets cannot be made "
                f"(install the Debian package {tool}); the session itself is unaffected."
            )


def environment() -> dict[str, str]:
    """The environment of DataLad's programs: git-annex finds datalad-next's special
    remotes (git-annex-remote-uncurl, -archivist, git-remote-datalad-annex) beside this
    Python; commits have an author even where the server's user has none."""
    env = dict(os.environ)
    here = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([here, env.get("PATH", os.defpath)])
    for key, value in GIT_IDENTITY.items():
        env.setdefault(key, value)
    return env


def plain_runner(argv: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(argv, env=env, capture_output=True, text=True, errors="replace")
    if done.returncode != 0:
        raise ScandepotError(f"{' '.join(argv[:3])} failed:\n{done.stdout}{done.stderr}")


def names(visit: str) -> list[str]:
    """The deposit's files, in the order they are put in place."""
    return [
        metadata.tarball_name(visit),
        metadata.dicoms_name(visit),
        f"{visit}_{representation.EXPORT}",
        f"{visit}_{representation.REFS}",
    ]


@dataclass(frozen=True, slots=True)
class Made:
    visit: Visit
    folder: Path  # holds the files of names(visit)
    tar_md5: str
    tar_size: int
    dicoms: int


def make(
    visit: Visit,
    work: Path,
    *,
    store_url: str,
    previous: Path | None,
    run: Runner,
    started_ns: int | None = None,
    tar_md5: str | None = None,
) -> Made:
    """Make a visit's four files in ``work/deposit``; ``previous`` is the folder of its
    last deposit (a new version goes on its history), ``store_url`` the base URL under
    which ``{project}/{visit}_dicom.tar`` is served; ``tar_md5`` the tarball's MD5 when
    the caller read it already."""
    check_tools()
    tar = tarball.whole(visit, started_ns or time.time_ns())
    md5 = tar_md5 or tarball.md5(tar)
    out = work / "deposit"
    out.mkdir(parents=True)
    described = metadata.tarball(tar, md5)
    dicoms = metadata.dicoms(visit)
    (out / metadata.tarball_name(visit.visit)).write_bytes(metadata.to_bytes(described))
    (out / metadata.dicoms_name(visit.visit)).write_bytes(metadata.to_bytes(dicoms))
    last = previous / f"{visit.visit}_{representation.REFS}" if previous else None
    argv = [
        sys.executable,
        "-P",  # the module as installed, never a same-named file of the working folder
        "-m",
        "scandepot.datalad.representation",
        "--work",
        str(work / "dataset"),
        "--tarball",
        str(out / metadata.tarball_name(visit.visit)),
        "--dicoms",
        str(out / metadata.dicoms_name(visit.visit)),
        "--store-url",
        store_url,
        "--out-prefix",
        str(out / f"{visit.visit}_"),
        "--message",
        f"Visit {visit.visit} (session {visit.session}): {len(dicoms)} DICOM files",
    ]
    if last is not None and last.is_file():
        argv += ["--previous", f"file://{previous}/{visit.visit}_"]
    run(argv, environment())
    return Made(visit, out, md5, tar.total, len(dicoms))


def write_into(folder: Path, name: str, chunks: Iterator[bytes] | list[bytes]) -> None:
    """One file into ``folder``, through storage/: staged beside it (the same file
    system, whatever folder it is), fsynced, renamed over any older one."""
    make_dirs(folder)
    with StagedFile(folder / f".{name}.{uuid.uuid4().hex}.part") as staged:
        for chunk in chunks:
            staged.write(chunk)
        staged.publish(folder / name, overwrite=True)


def put(made: Made, folder: Path) -> None:
    """Put the made files into ``folder``, in the order of :func:`names`."""
    for name in names(made.visit.visit):
        write_into(folder, name, [(made.folder / name).read_bytes()])
