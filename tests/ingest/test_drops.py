"""The SFTP drop below the protocol (ingest/): paths, accounts, sign-in and its limits,
uploads (all or nothing, the quota), matching by path, time and hand, the functions
retention calls, and what a researcher's view holds. tests/sftp/ proves the wire."""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from scandepot.access.actors import SYSTEM, Actor
from scandepot.access.audit import AuditAction
from scandepot.access.throttle import TooManyAttempts
from scandepot.archive import projects
from scandepot.archive.projects import ProjectCreate
from scandepot.catalog.access import AuditEvent, User
from scandepot.catalog.archive import File, Resource
from scandepot.catalog.drops import DropAccount, DropItem, MatchRule
from scandepot.context import Context
from scandepot.errors import Conflict, Forbidden, Invalid, NotFound, Unauthorized
from scandepot.ingest import (
    drop_accounts,
    drop_browse,
    drop_matching,
    drop_paths,
    drop_settler,
    drop_sweep,
    drops,
    sftp_signin,
    ssh_keys,
)
from scandepot.ingest.drop_accounts import DropAccountCreate, DropAccountUpdate
from scandepot.ingest.drop_matching import DropRuleSet
from scandepot.ingest.drop_quota import QuotaExceeded
from scandepot.ingest.sftp_signin import DropPrincipal
from scandepot.sftp import hostkey
from scandepot.storage.changes import Changes
from scandepot.storage.store import file_digest
from tests.conftest import PASSWORD
from tests.ingest.conftest import DROP_PASSWORD

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIC2PnFcpnnSpVb4XuuV33FyKHZRl8QYZtoKQ8AbJ+ZZm"


@pytest.mark.parametrize(
    ("raw", "parts"),
    [(b"/", ()), (b".", ()), (b"/a/./b//c", ("a", "b", "c")), (b"a.log", ("a.log",))],
)
def test_paths_are_read_inside_the_view(raw: bytes, parts: tuple[str, ...]) -> None:
    assert drop_paths.parts(raw) == parts


@pytest.mark.parametrize(
    "raw", [b"../x", b"/a/../../etc", b"a\x00b", b"bell\x07", b"a\\b", b"\xff\xfe", b"x" * 2000]
)
def test_bad_paths_are_refused_naming_the_field(raw: bytes) -> None:
    with pytest.raises(Invalid) as refused:
        drop_paths.parts(raw)
    assert refused.value.field == "path"


def test_realpath_never_climbs_above_the_top() -> None:
    assert drop_paths.real(b"/a/b/../..") == "/"
    assert drop_paths.real(b"../../..") == "/"
    assert drop_paths.real(b"a/./b/") == "/a/b"


def test_public_keys_are_read_and_fingerprinted_as_ssh_keygen_does() -> None:
    key = ssh_keys.parse(KEY + " me@host")
    assert (key.type, key.comment) == ("ssh-ed25519", "me@host")
    assert key.fingerprint == "SHA256:WRlveDZ9toSfqEOUCigW6cFopJBVUQFasbr7UES93Q0"
    for bad in ("", "ssh-ed25519", "ssh-dss AAAA", "ssh-rsa " + KEY.split()[1], "ssh-ed25519 !!"):
        with pytest.raises(Invalid):
            ssh_keys.parse(bad)


def _actor(ctx: Context, login: str) -> Actor:
    with ctx.db.read() as db:
        user = db.scalar(select(User).where(User.login == login))
        assert user is not None
    return Actor(user_id=user.id, login=login, is_site_admin=user.is_site_admin)


def _drop(ctx: Context, who: DropPrincipal, path: str, data: bytes) -> int:
    parts = tuple(path.split("/"))
    for i in range(1, len(parts)):
        drops.make_folder(ctx, who, parts[:i])
    upload = drops.begin(ctx, who, parts)
    upload.write(0, data)
    return drop_settler.finish(upload)


def _actions(ctx: Context) -> list[str]:
    with ctx.db.read() as db:
        return list(db.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_drop_accounts_are_for_owners_and_audited(ctx: Context, project: str) -> None:
    made, generated = drop_accounts.create(ctx, SYSTEM, project, DropAccountCreate(name="mr3t"))
    assert made.username == f"{project}+mr3t" and generated and made.has_password
    with pytest.raises(Forbidden):
        drop_accounts.list_accounts(ctx, _actor(ctx, "member"), project)
    owner = _actor(ctx, "owner")
    with pytest.raises(Conflict):
        drop_accounts.create(ctx, owner, project, DropAccountCreate(name="MR3T"))
    with pytest.raises(Invalid):
        drop_accounts.create(ctx, owner, project, DropAccountCreate(name="a+b"))
    changed = drop_accounts.update(
        ctx, owner, project, "mr3t", DropAccountUpdate(add_public_keys=[KEY], enabled=False)
    )
    assert (len(changed.keys), changed.enabled) == (1, False)
    drop_accounts.delete(ctx, owner, project, "mr3t")
    assert drop_accounts.list_accounts(ctx, owner, project) == []
    assert [a for a in _actions(ctx) if a.startswith("drop.")] == [
        AuditAction.DROP_ACCOUNT_CREATED,
        AuditAction.DROP_ACCOUNT_CHANGED,
        AuditAction.DROP_ACCOUNT_REMOVED,
    ]


def test_sign_in_by_password_and_key_with_the_http_limits(
    ctx: Context, project: str, who: DropPrincipal
) -> None:
    user = sftp_signin.by_password(ctx, "collaborator", PASSWORD, address="10.0.0.1")
    assert isinstance(user, Actor) and user.login == "collaborator"
    fingerprint = ssh_keys.add_key(ctx, SYSTEM, "collaborator", KEY).fingerprint
    assert sftp_signin.by_key(ctx, "collaborator", fingerprint, address=None) == Actor(
        user_id=user.user_id, login="collaborator", via="key"
    )
    assert sftp_signin.by_key(ctx, "outsider", fingerprint, address=None) is None
    assert sftp_signin.by_key(ctx, who.username, fingerprint, address=None) is None
    for _ in range(ctx.settings.login_failures_per_account):
        with pytest.raises(Unauthorized):
            sftp_signin.by_password(ctx, who.username, "wrong", address="10.0.0.2")
    with pytest.raises(TooManyAttempts):
        sftp_signin.by_password(ctx, who.username, DROP_PASSWORD, address="10.0.0.3")
    with pytest.raises(TooManyAttempts):
        sftp_signin.by_key(ctx, who.username, fingerprint, address="10.0.0.3")


def test_a_disabled_drop_account_cannot_sign_in(ctx: Context, project: str, who: DropPrincipal):
    drop_accounts.update(ctx, SYSTEM, project, "scanner", DropAccountUpdate(enabled=False))
    with pytest.raises(Unauthorized):
        sftp_signin.by_password(ctx, who.username, DROP_PASSWORD, address=None)


def test_an_upload_is_all_or_nothing(ctx: Context, project: str, who: DropPrincipal) -> None:
    upload = drops.begin(ctx, who, ("half.raw",))
    upload.write(0, b"x" * 1000)
    with pytest.raises(Invalid):
        upload.write(5000, b"gap")  # bytes in order only
    upload.abort()
    assert list(ctx.store.tmp.iterdir()) == []
    assert not (drops.project_dir(ctx, project) / "half.raw").exists()
    with pytest.raises(NotFound):
        drops.begin(ctx, who, ("nowhere", "a.log"))
    drop_id = _drop(ctx, who, "run1/a.log", b"abc")
    with pytest.raises(Conflict):
        drops.begin(ctx, who, ("run1", "a.log"))
    with ctx.db.read() as db:
        item = db.get(DropItem, drop_id)
        assert item is not None
        digest = file_digest(drops.project_dir(ctx, project) / "run1" / "a.log")
        assert (item.size, item.sha256, item.md5) == (3, digest.sha256, digest.md5)


def test_the_quota_refuses_as_it_is_passed(ctx: Context, project: str, who: DropPrincipal):
    drop_matching.set_rule(ctx, SYSTEM, project, DropRuleSet(quota_bytes=1000))
    _drop(ctx, who, "a.raw", b"a" * 600)
    upload = drops.begin(ctx, who, ("b.raw",))
    upload.write(0, b"b" * 300)
    with pytest.raises(QuotaExceeded):
        upload.write(300, b"b" * 300)
    assert upload.ended and list(ctx.store.tmp.iterdir()) == []
    _drop(ctx, who, "c.raw", b"c" * 400)  # exactly full
    with pytest.raises(QuotaExceeded):
        drops.begin(ctx, who, ("d.raw",))


def test_parallel_uploads_share_the_quota(ctx: Context, project: str, who: DropPrincipal):
    drop_matching.set_rule(ctx, SYSTEM, project, DropRuleSet(quota_bytes=1000))
    first, second = drops.begin(ctx, who, ("a.raw",)), drops.begin(ctx, who, ("b.raw",))
    first.write(0, b"a" * 600)
    with pytest.raises(QuotaExceeded):  # the first one's bytes count as they arrive
        second.write(0, b"b" * 600)
    third = drops.begin(ctx, who, ("c.raw",))
    third.write(0, b"c" * 400)
    with pytest.raises(QuotaExceeded):  # nor may one begin while the room is taken
        drops.begin(ctx, who, ("e.raw",))
    third.abort()
    drop_settler.finish(first)
    late = drops.begin(ctx, who, ("d.raw",))
    late.write(0, b"d" * 400)  # exactly full
    # Another process catalogues a file meanwhile (its bytes not counted here): the last
    # check, in the catalog's transaction, refuses this one and removes its file.
    with ctx.db.write() as db:
        db.add(DropItem(project_id=who.project_id, path="x.raw", size=1, md5="", sha256=""))
    with pytest.raises(QuotaExceeded):
        drop_settler.finish(late)
    assert not (drops.project_dir(ctx, project) / "d.raw").exists()
    assert sorted(d.path for d in drops.unmatched_drops(ctx)) == ["a.raw", "x.raw"]
    assert list(ctx.store.tmp.iterdir()) == []
    assert drops.begin(ctx, who, ("d.raw",)).size == 0  # the name was not taken


def test_a_taken_name_is_refused_as_any_write(ctx: Context, project: str, who: DropPrincipal):
    _drop(ctx, who, "run1/a.log", b"a")
    refusals = []
    for attempt in (
        lambda: drops.make_folder(ctx, who, ("run1", "a.log")),
        lambda: drops.make_folder(ctx, who, ("run1", "a.log", "deeper")),
        lambda: drops.begin(ctx, who, ("run1", "a.log")),
        lambda: drops.begin(ctx, who, ("run1",)),
    ):
        with pytest.raises(Conflict) as refused:
            attempt()
        refusals.append(refused.value.message)
    assert set(refusals) == {drops.REFUSED}
    drops.make_folder(ctx, who, ("run1",))  # a folder that is there: no error
    drop_accounts.update(ctx, SYSTEM, project, "scanner", DropAccountUpdate(enabled=False))
    with pytest.raises(Forbidden) as gone:
        drops.begin(ctx, who, ("b.log",))
    assert gone.value.message == drops.REFUSED


def test_a_deleted_projects_drops_reach_no_later_project_of_its_label(
    ctx: Context, project: str, who: DropPrincipal
) -> None:
    _drop(ctx, who, "physio/resp.log", b"private data")
    _drop(ctx, who, "eye.edf", b"private eye")
    old_folder = drops.project_dir(ctx, project)
    projects.delete(ctx, SYSTEM, project, recursive=True)
    assert (old_folder / "eye.edf").exists()  # left on disk: the catalog forgot it
    projects.create(ctx, SYSTEM, ProjectCreate(id=project, accessibility="public"))
    outsider = _actor(ctx, "outsider")
    assert drop_browse.listing(ctx, outsider, (project, "drop")) == []
    for path in (("eye.edf",), ("physio",), ("physio", "resp.log")):
        with pytest.raises(NotFound):
            drop_browse.resolve(ctx, outsider, (project, "drop", *path))
        with pytest.raises(NotFound):
            drop_browse.open_file(ctx, outsider, (project, "drop", *path))
    # The new project's drop account may take the same names.
    drop_accounts.create(
        ctx, SYSTEM, project, DropAccountCreate(name="scanner2", password="p" * 12)
    )
    again = sftp_signin.by_password(ctx, f"{project}+scanner2", "p" * 12, address=None)
    assert isinstance(again, DropPrincipal)
    assert not drops.is_folder(ctx, again, ("physio",))
    _drop(ctx, again, "physio/resp.log", b"new")
    _drop(ctx, again, "eye.edf", b"new eye")
    # The old account's session, if still open, writes nowhere.
    with pytest.raises(Forbidden):
        drops.begin(ctx, who, ("late.log",))
    # What is not catalogued is not shown, even in the new project's own folder.
    (drops.project_dir(ctx, project) / "stray.log").write_bytes(b"not catalogued")
    names = [e.name for e in drop_browse.listing(ctx, outsider, (project, "drop"))]
    assert names == ["eye.edf", "physio"]
    with pytest.raises(NotFound):
        drop_browse.open_file(ctx, outsider, (project, "drop", "stray.log"))
    fd = drop_browse.open_file(ctx, outsider, (project, "drop", "eye.edf"))
    try:
        assert os.read(fd, 100) == b"new eye"
    finally:
        os.close(fd)
    # The dead folder goes when the sweep finds it (once its project is an hour old).
    made = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    stale = drops.root(ctx) / drops.folder_name(999_999, made)
    old_folder.rename(stale)
    assert drop_sweep.sweep(ctx) == 2
    assert not stale.exists() and (drops.project_dir(ctx, project) / "eye.edf").exists()


def test_drops_kept_by_label_before_move_to_their_project_folder(
    ctx: Context, project: str, who: DropPrincipal
) -> None:
    _drop(ctx, who, "physio/resp.log", b"resp")
    now = drops.project_dir(ctx, project)
    before = drops.root(ctx) / project
    now.rename(before)
    (before / "left.log").write_bytes(b"never catalogued")
    drop_sweep.sweep(ctx)
    assert (now / "physio" / "resp.log").read_bytes() == b"resp"
    assert not (now / "left.log").exists() and (before / "left.log").exists()


def test_matching_by_path_and_by_time(ctx: Context, project: str, who: DropPrincipal) -> None:
    drop_matching.set_rule(ctx, SYSTEM, project, DropRuleSet(rule=MatchRule.PATH))
    assert drop_matching.on_arrival(ctx, _drop(ctx, who, "SUB1/MR1/resp.log", b"resp"))
    assert not drop_matching.on_arrival(ctx, _drop(ctx, who, "SUB2/MR1/x.log", b"x"))
    assert not drop_matching.on_arrival(ctx, _drop(ctx, who, "SUB1/notes.log", b"no rest"))
    timed = DropRuleSet(rule=MatchRule.TIME, window_min=30, resource="EYE")
    drop_matching.set_rule(ctx, SYSTEM, project, timed)
    assert drop_matching.on_arrival(ctx, _drop(ctx, who, "eye-2026-12-06T10:20:00.edf", b"e"))
    assert not drop_matching.on_arrival(ctx, _drop(ctx, who, "eye_20261206_104000.edf", b"f"))
    assert not drop_matching.on_arrival(ctx, _drop(ctx, who, "eye_20261207_100000.edf", b"g"))
    with ctx.db.read() as db:
        rows = db.execute(
            select(Resource.label, File.path, File.size, File.sha256).join(
                File, File.resource_id == Resource.id
            )
        ).all()
    assert sorted((r[0], r[1], r[2]) for r in rows) == [
        ("EYE", "eye-2026-12-06T10:20:00.edf", 1),
        ("PHYSIO", "resp.log", 4),
    ]
    left = [d.path for d in drops.unmatched_drops(ctx, project=project)]
    assert left == [
        "SUB2/MR1/x.log",
        "SUB1/notes.log",
        "eye_20261206_104000.edf",
        "eye_20261207_100000.edf",
    ]


def test_matching_by_hand_takes_a_folder_with_all_it_holds(
    ctx: Context, project: str, who: DropPrincipal
) -> None:
    _drop(ctx, who, "physio/run1/resp.log", b"resp")
    _drop(ctx, who, "physio/puls.log", b"puls")
    _drop(ctx, who, "other.log", b"other")
    collaborator = _actor(ctx, "collaborator")
    with pytest.raises(Forbidden):
        drop_matching.match_by_hand(ctx, collaborator, project, "physio", "MR1")
    with pytest.raises(NotFound):
        drop_matching.match_by_hand(ctx, SYSTEM, project, "nothing", "MR1")
    member = _actor(ctx, "member")
    assert drop_matching.match_by_hand(ctx, member, project, "physio", "MR1") == 2
    with ctx.db.read() as db:
        paths = sorted(db.scalars(select(File.path)))
        matched = db.scalars(select(DropItem.matched_by).where(DropItem.state == "matched"))
        assert set(matched) == {"member"}
    assert paths == ["physio/puls.log", "physio/run1/resp.log"]
    assert not (drops.project_dir(ctx, project) / "physio" / "puls.log").exists()
    assert AuditAction.DROP_MATCHED in _actions(ctx)
    left = drops.unmatched_entries(ctx, member)
    assert [(e.entry, e.files, e.is_folder) for e in left] == [("other.log", 1, False)]
    assert drops.unmatched_entries(ctx, collaborator) == []


def test_what_retention_calls(ctx: Context, project: str, who: DropPrincipal) -> None:
    first = _drop(ctx, who, "old.log", b"12345")
    listed = drops.unmatched_drops(ctx)
    assert [(d.id, d.project, d.path, d.size) for d in listed] == [(first, project, "old.log", 5)]
    assert listed[0].age_s >= 0
    assert drops.delete_drop(ctx, first)
    assert not drops.delete_drop(ctx, first)
    assert not (drops.project_dir(ctx, project) / "old.log").exists()
    assert drops.unmatched_drops(ctx) == []
    assert AuditAction.DROP_DELETED in _actions(ctx)
    second = _drop(ctx, who, "new.log", b"1")
    with pytest.raises(Forbidden):
        drops.delete_drop(ctx, second, actor=_actor(ctx, "member"), project=project)
    with Changes(ctx.store) as changes, ctx.db.write() as db:  # as retention runs
        assert drops.discard(ctx, db, changes, second)
        assert not drops.discard(ctx, db, changes, second)
    assert not (drops.project_dir(ctx, project) / "new.log").exists()
    assert drops.unmatched_drops(ctx) == []


def test_a_researcher_sees_their_projects_read_only(
    ctx: Context, project: str, who: DropPrincipal
) -> None:
    projects.create(ctx, SYSTEM, ProjectCreate(id="HIDDEN"))
    _drop(ctx, who, "a.log", b"a")
    (drops.project_dir(ctx, project) / ".side.part").write_bytes(b"half")
    reader = _actor(ctx, "collaborator")
    assert drop_browse.readable_projects(ctx, reader) == [project]
    top = [e.name for e in drop_browse.listing(ctx, reader, ())]
    assert top == [project]
    assert [e.name for e in drop_browse.listing(ctx, reader, (project, "drop"))] == ["a.log"]
    with pytest.raises(NotFound):
        drop_browse.listing(ctx, reader, ("HIDDEN",))
    with pytest.raises(NotFound):
        drop_browse.open_file(ctx, reader, (project, "drop", ".side.part"))
    fd = drop_browse.open_file(ctx, reader, (project, "drop", "a.log"))
    try:
        assert os.read(fd, 10) == b"a"
    finally:
        os.close(fd)
    assert drop_browse.readable_projects(ctx, _actor(ctx, "outsider")) == []


def test_the_host_key_is_made_once_and_kept_private(ctx: Context) -> None:
    first = hostkey.load_or_create(ctx)
    path = Path(ctx.settings.data_dir) / hostkey.KEY_FILE
    assert path.stat().st_mode & 0o777 == 0o600
    again = hostkey.load_or_create(ctx)
    assert again.export_public_key() == first.export_public_key()


def test_drop_account_names_never_meet_user_logins(ctx: Context, project: str) -> None:
    drop_accounts.create(ctx, SYSTEM, project, DropAccountCreate(name="x", password="p" * 10))
    with ctx.db.read() as db:
        names = list(db.scalars(select(DropAccount.username)))
    assert names == [f"{project}+x"] and all("+" not in u for u in ("owner", "member"))


def test_sweep_removes_only_old_files_no_drop_names(
    ctx: Context, project: str, who: DropPrincipal
) -> None:
    _drop(ctx, who, "kept.log", b"kept")
    folder = drops.project_dir(ctx, project)
    orphan, fresh = folder / "orphan.log", folder / "fresh.log"
    orphan.write_bytes(b"left by a killed server")
    fresh.write_bytes(b"being catalogued right now")
    old = time.time() - 2 * 24 * 3600
    for path in (orphan, folder / "kept.log"):
        os.utime(path, (old, old))
    assert drop_sweep.sweep(ctx) == 1
    assert sorted(p.name for p in folder.iterdir()) == ["fresh.log", "kept.log"]
