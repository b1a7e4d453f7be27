"""`scandepot` commands as processes of their own, forked from one that has imported the
command line already.

Each command is a real process (its own pid, environment, working folder, standard
streams and exit code) running the same entry point as ``python -m scandepot``; what it
skips is the interpreter's start and the imports, two seconds of a loaded machine per
command. Tests of how the command starts (``python -m scandepot`` itself, the client
commands' light imports) and of commands that run as servers start the real thing.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

_forkserver = multiprocessing.get_context("forkserver")
_forkserver.set_forkserver_preload(["scandepot.cli.main", "scandepot.cli.client"])


def _command(
    args: list[str],
    env: dict[str, str],
    cwd: str | None,
    streams: tuple[str, str, str],
    code_text: str | None = None,
) -> None:
    """In the child: the process's environment, folder and streams, then the command (or,
    given ``code_text``, that program, as ``python -c``)."""
    os.environ.clear()
    os.environ.update(env)
    if cwd is not None:
        os.chdir(cwd)
    for fd, path, flags in zip(
        (0, 1, 2), streams, (os.O_RDONLY, os.O_WRONLY, os.O_WRONLY), strict=True
    ):
        opened = os.open(path, flags)
        os.dup2(opened, fd)
        os.close(opened)
    sys.stdin = open(0, closefd=False)  # noqa: SIM115
    sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
    sys.argv = ["scandepot" if code_text is None else "-c", *args]
    code: object = 0
    try:
        if code_text is None:
            from scandepot.cli.entry import main

            main()
        else:
            exec(compile(code_text, "<string>", "exec"), {"__name__": "__main__"})
    except SystemExit as exc:
        code = exc.code
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    if code is None:
        code = 0
    elif not isinstance(code, int):
        print(code, file=sys.stderr, flush=True)
        code = 1
    os._exit(code)


def run(
    args: list[str] | tuple[str, ...],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
    input: str | None = None,  # noqa: A002
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """``scandepot *args``, as ``subprocess.run(..., capture_output=True, text=True)``."""
    return _run(list(args), None, env=env, cwd=cwd, input=input, timeout=timeout)


def run_code(
    code_text: str,
    args: list[str] | tuple[str, ...],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """``python -c code_text *args`` with the command line's modules imported already, as
    ``subprocess.run(..., capture_output=True, text=True)``: for programs that kill
    themselves half-way through the work they import."""
    return _run(list(args), code_text, env=env, cwd=None, input=None, timeout=timeout)


def _run(
    args: list[str],
    code_text: str | None,
    *,
    env: Mapping[str, str] | None,
    cwd: str | Path | None,
    input: str | None,  # noqa: A002
    timeout: float,
) -> subprocess.CompletedProcess[str]:
    shown = ["scandepot", *args] if code_text is None else ["python", "-c", "...", *args]
    with tempfile.TemporaryDirectory(prefix="sd-command-") as folder:
        streams = tuple(str(Path(folder) / name) for name in ("in", "out", "err"))
        Path(streams[0]).write_text(input or "")
        Path(streams[1]).touch()
        Path(streams[2]).touch()
        child = _forkserver.Process(
            target=_command,
            args=(
                args,
                dict(os.environ if env is None else env),
                None if cwd is None else str(cwd),
                streams,
                code_text,
            ),
        )
        child.start()
        child.join(timeout)
        if child.exitcode is None:
            child.kill()
            child.join()
            raise subprocess.TimeoutExpired(shown, timeout)
        return subprocess.CompletedProcess(
            shown, child.exitcode, Path(streams[1]).read_text(), Path(streams[2]).read_text()
        )
