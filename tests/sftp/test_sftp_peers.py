"""The SFTP server against real clients: OpenSSH's ``sftp`` and paramiko.

What only the wire can prove is here: that a drop account puts files and folders and is
refused the rest, that a researcher reads exactly what their projects allow, that a
matching rule runs as a file closes, and that a client killed half-way leaves nothing.
The rules below the protocol are tested in tests/ingest/test_drops.py.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import paramiko
import pytest
from sqlalchemy import select

from scandepot.access.actors import SYSTEM
from scandepot.archive import files, projects, sessions, subjects
from scandepot.archive.projects import ProjectCreate
from scandepot.archive.resources import OwnerRef
from scandepot.archive.sessions import SessionCreate
from scandepot.archive.subjects import SubjectCreate
from scandepot.catalog.archive import File, Resource
from scandepot.catalog.drops import DropItem, DropState, MatchRule
from scandepot.context import Context
from scandepot.ingest import drop_matching, drop_settler, drops
from scandepot.ingest.drop_matching import DropRuleSet
from scandepot.sftp.server import SftpServer
from scandepot.storage.store import Disk
from tests.sftp.conftest import DROP_PASSWORD, Key, paramiko_client, run_sftp

pytestmark = pytest.mark.interop

PROJECT = "P001"


def _items(sftp: SftpServer, ctx: Context) -> list[DropItem]:
    """The catalogued drops, once every close the server answered is settled."""
    assert sftp.settler.wait(timeout=30)
    with ctx.db.read() as db:
        return list(db.scalars(select(DropItem).order_by(DropItem.path)))


def _session(ctx: Context, project: str, *, when: dt.datetime | None = None) -> None:
    subjects.create(ctx, SYSTEM, project, SubjectCreate(label="SUB1"))
    fields = {"date": when.date(), "time": when.time()} if when else {}
    sessions.create(ctx, SYSTEM, project, SessionCreate(label="MR1", subject="SUB1", **fields))


def _archived_file(ctx: Context, project: str, content: bytes) -> None:
    staged = ctx.store.stage()
    staged.write(content)
    files.commit_upload(ctx, SYSTEM, OwnerRef(project, "SUB1", "MR1"), "NOTES", "a.txt", staged)


def test_drop_account_puts_files_and_folders(
    sftp: SftpServer, ctx: Context, drop_account: str, keys: dict[str, Key], tmp_path: Path
) -> None:
    (tmp_path / "physio").mkdir()
    (tmp_path / "physio" / "resp.log").write_bytes(b"r" * 3000)
    (tmp_path / "physio" / "puls.log").write_bytes(b"p" * 2000)
    (tmp_path / "eye.edf").write_bytes(b"e" * 100_000)
    done = run_sftp(sftp, drop_account, keys["drop"], "put eye.edf\nput -r physio\n", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    items = _items(sftp, ctx)
    assert [(i.path, i.size, i.state) for i in items] == [
        ("eye.edf", 100_000, "unmatched"),
        ("physio/puls.log", 2000, "unmatched"),
        ("physio/resp.log", 3000, "unmatched"),
    ]
    folder = drops.project_dir(ctx, PROJECT)
    assert (folder / "physio" / "resp.log").read_bytes() == b"r" * 3000
    assert list(ctx.store.tmp.iterdir()) == []


def test_put_f_is_answered_after_the_files_fsync(
    sftp: SftpServer,
    ctx: Context,
    drop_account: str,
    keys: dict[str, Key],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """fsync@openssh.com (``put -f``) fsyncs the file before it is answered, and the
    settler does not again; a plain put's file is fsynced by the settler."""
    asked: list[str] = []
    settled: list[str] = []
    real_sync, real_fsync = drops.Upload.sync, drop_settler._fsync_file

    def sync(upload: drops.Upload) -> None:
        asked.append(upload.path)
        real_sync(upload)

    def fsync_file(disk: Disk, path: Path) -> bool:
        settled.append(path.name)
        return real_fsync(disk, path)

    monkeypatch.setattr(drops.Upload, "sync", sync)
    monkeypatch.setattr(drop_settler, "_fsync_file", fsync_file)
    big = os.urandom(1_500_000)  # past what is written on the loop: the thread's bytes too
    (tmp_path / "big.raw").write_bytes(big)
    (tmp_path / "small.raw").write_bytes(b"s" * 100)
    script = "put -f big.raw\nput small.raw\n"
    done = run_sftp(sftp, drop_account, keys["drop"], script, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert [(i.path, i.size) for i in _items(sftp, ctx)] == [
        ("big.raw", 1_500_000),
        ("small.raw", 100),
    ]
    assert (asked, settled) == (["big.raw"], ["small.raw"])
    assert (drops.project_dir(ctx, PROJECT) / "big.raw").read_bytes() == big


@pytest.mark.parametrize(
    "command",
    [
        "ls",
        "ls physio",
        "get eye.edf",
        "rm eye.edf",
        "rename eye.edf x.edf",
        "ln -s eye.edf l",
        "chmod 777 eye.edf",
        "rmdir physio",
    ],
)
def test_drop_account_is_refused_the_rest(
    sftp: SftpServer,
    ctx: Context,
    drop_account: str,
    keys: dict[str, Key],
    tmp_path: Path,
    command: str,
) -> None:
    (tmp_path / "eye.edf").write_bytes(b"e" * 10)
    put = run_sftp(sftp, drop_account, keys["drop"], "mkdir physio\nput eye.edf\n", cwd=tmp_path)
    assert put.returncode == 0, put.stderr
    refused = run_sftp(sftp, drop_account, keys["drop"], command + "\n", cwd=tmp_path / "..")
    # OpenSSH's sftp goes on after a refused `ls`; the others end the batch (exit 1).
    assert refused.returncode == (0 if command == "ls" else 1), refused.stderr
    assert "Permission denied" in refused.stderr or "not found" in refused.stderr
    assert (drops.project_dir(ctx, PROJECT) / "eye.edf").read_bytes() == b"e" * 10
    assert [i.path for i in _items(sftp, ctx)] == ["eye.edf"]


def test_drop_account_status_codes_and_bad_paths(
    sftp: SftpServer, ctx: Context, drop_account: str
) -> None:
    with paramiko_client(sftp, drop_account, password=DROP_PASSWORD) as client:
        channel = client.open_sftp()
        with channel.open("/a.log", "wb") as fh:  # '/' is the drop folder itself
            fh.write(b"abc")
        for refuse in (
            lambda: channel.listdir("/"),
            lambda: channel.open("/a.log", "rb"),
            lambda: channel.remove("/a.log"),
            lambda: channel.rename("/a.log", "/b.log"),
            lambda: channel.symlink("/a.log", "/link"),
            lambda: channel.chmod("/a.log", 0o777),
        ):
            with pytest.raises(PermissionError):
                refuse()
        for bad in ("../escape.log", "/x/../../etc/passwd", "bell\x07.log", "nul\x00.log"):
            with pytest.raises(OSError):
                channel.open(bad, "wb").close()
        with pytest.raises(OSError):  # a folder that does not exist
            channel.open("/nowhere/a.log", "wb").close()
    assert [i.path for i in _items(sftp, ctx)] == ["a.log"]
    folder = drops.project_dir(ctx, PROJECT).name
    assert sorted(p.name for p in drops.root(ctx).rglob("*")) == [folder, "a.log"]


def test_a_taken_name_is_refused_as_any_write(
    sftp: SftpServer, ctx: Context, drop_account: str
) -> None:
    with paramiko_client(sftp, drop_account, password=DROP_PASSWORD) as client:
        channel = client.open_sftp()
        channel.mkdir("/run1")
        with channel.open("/run1/a.log", "wb") as fh:
            fh.write(b"abc")
        messages = set()
        for attempt in (
            lambda: channel.mkdir("/run1/a.log"),
            lambda: channel.mkdir("/run1/a.log/deeper"),
            lambda: channel.open("/run1/a.log", "wb").close(),
            lambda: channel.open("/run1", "wb").close(),
        ):
            with pytest.raises(PermissionError) as refused:
                attempt()
            messages.add(refused.value.strerror)
        channel.mkdir("/run1")  # a folder that is there: no error, as before
    assert messages == {"Writing is not allowed here."}
    assert [i.path for i in _items(sftp, ctx)] == ["run1/a.log"]


def test_uploads_at_once_never_pass_the_quota(
    sftp: SftpServer, ctx: Context, drop_account: str
) -> None:
    drop_matching.set_rule(ctx, SYSTEM, PROJECT, DropRuleSet(quota_bytes=100_000))
    with paramiko_client(sftp, drop_account, password=DROP_PASSWORD) as client:
        channel = client.open_sftp()
        handles = [channel.open(f"/part{n}.raw", "wb") for n in range(4)]
        failed = 0
        for chunk in range(4):  # each file 40,000 bytes, sent side by side
            for fh in handles:
                try:
                    fh.write(bytes([chunk]) * 10_000)
                    fh.flush()
                except OSError:
                    failed += 1
        for fh in handles:
            try:
                fh.close()
            except OSError:
                failed += 1
    assert failed > 0
    items = _items(sftp, ctx)
    assert sum(i.size for i in items) <= 100_000
    assert [i.size for i in items] == [40_000] * len(items) and len(items) == 2
    on_disk = sorted(p.name for p in drops.project_dir(ctx, PROJECT).iterdir())
    assert on_disk == [i.path for i in items]
    assert list(ctx.store.tmp.iterdir()) == []


def test_a_deleted_projects_drops_reach_no_later_project_of_its_label(
    sftp: SftpServer, ctx: Context, drop_account: str, keys: dict[str, Key], tmp_path: Path
) -> None:
    with paramiko_client(sftp, drop_account, password=DROP_PASSWORD) as client:
        channel = client.open_sftp()
        channel.mkdir("/physio")
        for name in ("/physio/resp.log", "/eye.edf"):
            with channel.open(name, "wb") as fh:
                fh.write(b"private")
    projects.delete(ctx, SYSTEM, PROJECT, recursive=True)
    projects.create(ctx, SYSTEM, ProjectCreate(id=PROJECT, accessibility="public"))
    here = tmp_path / "got"
    here.mkdir()
    seen = run_sftp(sftp, "outsider", keys["outsider"], f"ls /{PROJECT}/drop\n", cwd=here)
    assert seen.returncode == 0, seen.stderr
    assert "eye.edf" not in seen.stdout and "physio" not in seen.stdout
    for path in ("eye.edf", "physio/resp.log"):
        got = run_sftp(
            sftp, "outsider", keys["outsider"], f"get /{PROJECT}/drop/{path}\n", cwd=here
        )
        assert got.returncode == 1, got.stdout
    assert list(here.iterdir()) == []


def test_drop_account_never_reaches_another_project(
    sftp: SftpServer, ctx: Context, drop_account: str, make_project: Callable[..., str]
) -> None:
    other = make_project()
    with paramiko_client(sftp, drop_account, password=DROP_PASSWORD) as client:
        channel = client.open_sftp()
        for path in (f"/{other}/a.log", f"../{other}/a.log", f"/../{other}/a.log"):
            with pytest.raises(OSError):
                channel.open(path, "wb").close()
    assert not drops.project_dir(ctx, other).exists()
    assert _items(sftp, ctx) == []


def test_researcher_reads_exactly_their_projects(
    sftp: SftpServer,
    ctx: Context,
    drop_account: str,
    keys: dict[str, Key],
    make_project: Callable[..., str],
    tmp_path: Path,
) -> None:
    other = "OTHER"  # no role for anyone but the admin
    projects.create(ctx, SYSTEM, ProjectCreate(id=other))
    for project in (PROJECT, other):
        _session(ctx, project)
        _archived_file(ctx, project, f"notes of {project}".encode())
    with paramiko_client(sftp, drop_account, password=DROP_PASSWORD) as client:
        with client.open_sftp().open("/dropped.log", "wb") as fh:
            fh.write(b"dropped")
    assert sftp.settler.wait(timeout=30)  # shown once catalogued, a moment after its close
    listing = run_sftp(
        sftp,
        "collaborator",
        keys["collaborator"],
        f"ls /\nls /{PROJECT}\nls /{PROJECT}/drop\n"
        f"get /{PROJECT}/subjects/SUB1/sessions/MR1/resources/NOTES/files/a.txt\n"
        f"get /{PROJECT}/drop/dropped.log\n",
        cwd=tmp_path,
    )
    assert listing.returncode == 0, listing.stderr
    assert (tmp_path / "a.txt").read_bytes() == f"notes of {PROJECT}".encode()
    assert (tmp_path / "dropped.log").read_bytes() == b"dropped"
    top = listing.stdout.split("sftp> ls /")[1]
    assert "P001" in top and other not in listing.stdout.replace(f"notes of {other}", "")
    for command in (
        f"ls /{other}",
        f"get /{other}/subjects/SUB1/sessions/MR1/resources/NOTES/files/a.txt",
        f"put {tmp_path / 'a.txt'} /{PROJECT}/drop/x",
    ):
        refused = run_sftp(sftp, "collaborator", keys["collaborator"], command + "\n", cwd=tmp_path)
        assert refused.returncode == 1, command
    outsider = run_sftp(sftp, "outsider", keys["outsider"], "ls /\n", cwd=tmp_path)
    assert outsider.returncode == 0 and PROJECT not in outsider.stdout


def test_matching_by_path_as_the_file_closes(
    sftp: SftpServer, ctx: Context, drop_account: str, keys: dict[str, Key], tmp_path: Path
) -> None:
    _session(ctx, PROJECT)
    drop_matching.set_rule(ctx, SYSTEM, PROJECT, DropRuleSet(rule=MatchRule.PATH))
    (tmp_path / "SUB1" / "MR1" / "run1").mkdir(parents=True)
    (tmp_path / "SUB1" / "MR1" / "run1" / "resp.log").write_bytes(b"breathing")
    (tmp_path / "SUB1" / "MR9").mkdir()
    (tmp_path / "SUB1" / "MR9" / "lost.log").write_bytes(b"no such session")
    done = run_sftp(sftp, drop_account, keys["drop"], "put -r SUB1\n", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    states = {i.path: (i.state, i.resource, i.matched_path) for i in _items(sftp, ctx)}
    assert states == {
        "SUB1/MR1/run1/resp.log": ("matched", "PHYSIO", "run1/resp.log"),
        "SUB1/MR9/lost.log": ("unmatched", None, None),
    }
    with ctx.db.read() as db:
        row = db.execute(
            select(File, Resource).join(Resource, Resource.id == File.resource_id)
        ).one()
    assert (row[1].label, row[0].path, row[0].size) == ("PHYSIO", "run1/resp.log", 9)
    assert not (drops.project_dir(ctx, PROJECT) / "SUB1/MR1/run1/resp.log").exists()


def test_matching_by_time_as_the_file_closes(
    sftp: SftpServer, ctx: Context, drop_account: str, keys: dict[str, Key], tmp_path: Path
) -> None:
    _session(ctx, PROJECT, when=dt.datetime(2026, 12, 6, 10, 0, 0))
    drop_matching.set_rule(
        ctx, SYSTEM, PROJECT, DropRuleSet(rule=MatchRule.TIME, window_min=60, resource="EYE")
    )
    (tmp_path / "Eye_20261206_103000.edf").write_bytes(b"near")
    (tmp_path / "Eye_20261206_150000.edf").write_bytes(b"far")
    commands = "put Eye_20261206_103000.edf\nput Eye_20261206_150000.edf\n"
    done = run_sftp(sftp, drop_account, keys["drop"], commands, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert {i.path: (i.state, i.resource) for i in _items(sftp, ctx)} == {
        "Eye_20261206_103000.edf": (DropState.MATCHED.value, "EYE"),
        "Eye_20261206_150000.edf": (DropState.UNMATCHED.value, None),
    }


KILLED_CLIENT = """
import sys, paramiko
port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
client = paramiko.SSHClient()
client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
client.connect("127.0.0.1", port=port, username=user, password=password,
               look_for_keys=False, allow_agent=False)
fh = client.open_sftp().open("/half.raw", "wb")
fh.write(b"x" * 1_000_000)
fh.flush()
print("half", flush=True)
sys.stdin.read()  # killed while it waits
"""


def _staged_sizes(ctx: Context) -> list[int]:
    return [p.stat().st_size for p in ctx.store.tmp.iterdir()]


def test_killed_upload_leaves_nothing(
    sftp: SftpServer, ctx: Context, drop_account: str, tmp_path: Path
) -> None:
    with subprocess.Popen(
        [sys.executable, "-c", KILLED_CLIENT, str(sftp.port), drop_account, DROP_PASSWORD],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as client:
        assert client.stdout is not None and client.stdout.readline().strip() == "half"
        deadline = time.monotonic() + 10  # written by the upload's thread meanwhile
        while _staged_sizes(ctx) != [1_000_000] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _staged_sizes(ctx) == [1_000_000]
        os.kill(client.pid, signal.SIGKILL)
        client.wait(timeout=10)
    deadline = time.monotonic() + 10
    while list(ctx.store.tmp.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(ctx.store.tmp.iterdir()) == []
    assert not (drops.project_dir(ctx, PROJECT) / "half.raw").exists()
    assert _items(sftp, ctx) == []


def test_over_quota_is_refused_and_the_partial_file_removed(
    sftp: SftpServer, ctx: Context, drop_account: str
) -> None:
    drop_matching.set_rule(ctx, SYSTEM, PROJECT, DropRuleSet(quota_bytes=100_000))
    with paramiko_client(sftp, drop_account, password=DROP_PASSWORD) as client:
        channel = client.open_sftp()
        with channel.open("/fits.raw", "wb") as fh:
            fh.write(b"x" * 60_000)
        with pytest.raises(OSError, match="quota|room"):
            with channel.open("/too-big.raw", "wb") as fh:
                fh.write(b"y" * 60_000)
    assert [i.path for i in _items(sftp, ctx)] == ["fits.raw"]
    assert not (drops.project_dir(ctx, PROJECT) / "too-big.raw").exists()
    assert list(ctx.store.tmp.iterdir()) == []


def test_failed_sign_ins_are_limited_as_over_http(
    sftp: SftpServer, ctx: Context, drop_account: str
) -> None:
    for _ in range(ctx.settings.login_failures_per_account):
        with pytest.raises(paramiko.AuthenticationException):
            paramiko_client(sftp, drop_account, password="wrong-password")
    with pytest.raises(paramiko.AuthenticationException):
        paramiko_client(sftp, drop_account, password=DROP_PASSWORD)
