"""Saving a project's scripts: checked by the real loaders first (a mistake refused
naming its line, nothing written), versions, on and off, the project's key made at the
first save, what is in force, who may, and the audit log."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from scandepot.access.users import actor_for
from scandepot.catalog.access import AuditEvent, User
from scandepot.catalog.archive import Project
from scandepot.catalog.deid import DeidKey, DeidScript, Purpose, ScriptKind
from scandepot.context import Context
from scandepot.deid import in_force, manage
from scandepot.deid.manage import ScriptIn
from scandepot.deid.model import ScriptError
from scandepot.errors import Forbidden, Invalid, NotFound
from tests.deid.project_world import CTP_BROKEN, CTP_NAME_ONLY, PROFILE


@pytest.fixture
def owner(users: dict[str, User]) -> Any:
    return actor_for(users["owner"])


def project_id(ctx: Context, label: str) -> int:
    with ctx.db.read() as db:
        found = db.scalar(select(Project.id).where(Project.label == label))
    assert found is not None
    return found


def count(ctx: Context, model: Any) -> int:
    with ctx.db.read() as db:
        return int(db.scalar(select(func.count()).select_from(model)) or 0)


def events(ctx: Context) -> list[AuditEvent]:
    with ctx.db.read() as db:
        return list(
            db.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == "deid.script_saved")
                .order_by(AuditEvent.id)
            )
        )


def test_saves_are_versions_and_the_newest_is_in_force(
    ctx: Context, make_project: Callable[..., str], owner: Any
) -> None:
    project = make_project()
    first = manage.save(ctx, owner, project, "archive", ScriptIn(kind="profile", text=PROFILE))
    assert first.changed and first.script.version == 1
    assert first.script.sha256 == hashlib.sha256(PROFILE.encode()).hexdigest()
    second = manage.save(
        ctx, owner, project, "archive", ScriptIn(kind="ctp", text=CTP_NAME_ONLY, pixel_text="")
    )
    assert (second.script.version, second.script.kind) == (2, "ctp")
    # The same again: nothing written.
    again = manage.save(ctx, owner, project, "archive", ScriptIn(kind="ctp", text=CTP_NAME_ONLY))
    assert not again.changed and again.script.version == 2
    assert [v.version for v in manage.versions(ctx, owner, project, "archive")] == [2, 1]
    assert manage.version(ctx, owner, project, "archive", 1).text == PROFILE
    assert manage.newest(ctx, owner, project, "export") is None
    with ctx.db.read() as db:
        force = in_force.script_in_force(db, project_id(ctx, project), Purpose.ARCHIVE)
    assert force is not None
    assert (force.version, force.sha256) == (2, second.script.sha256)
    assert force.label == second.script.label
    assert [(e.target, e.detail["kind"], e.actor_login) for e in events(ctx)] == [
        ("archive v1", "profile", "owner"),
        ("archive v2", "ctp", "owner"),
    ]


def test_the_pixel_script_is_part_of_the_version(
    ctx: Context, make_project: Callable[..., str], owner: Any
) -> None:
    project = make_project()
    pixel = "<!-- no pixel rule -->\n"
    saved = manage.save(
        ctx, owner, project, "export", ScriptIn(kind="ctp", text=CTP_NAME_ONLY, pixel_text=pixel)
    )
    assert saved.script.pixel_text == pixel
    assert saved.script.sha256 == hashlib.sha256((CTP_NAME_ONLY + pixel).encode()).hexdigest()


def test_the_project_key_is_made_at_the_first_save_and_kept(
    ctx: Context, make_project: Callable[..., str], owner: Any
) -> None:
    project = make_project()
    assert count(ctx, DeidKey) == 0
    manage.save(ctx, owner, project, "archive", ScriptIn(kind="profile", text=PROFILE))
    with ctx.db.read() as db:
        key = db.get(DeidKey, project_id(ctx, project))
        assert key is not None
        secret = key.secret
    manage.save(ctx, owner, project, "export", ScriptIn(kind="ctp", text=CTP_NAME_ONLY))
    with ctx.db.read() as db:
        again = db.get(DeidKey, project_id(ctx, project))
        assert again is not None and again.secret == secret
    assert count(ctx, DeidKey) == 1


def test_a_malformed_script_is_refused_naming_its_line_and_nothing_is_written(
    ctx: Context, make_project: Callable[..., str], owner: Any
) -> None:
    project = make_project()
    with pytest.raises(ScriptError) as refused:
        manage.save(ctx, owner, project, "archive", ScriptIn(kind="ctp", text=CTP_BROKEN))
    assert refused.value.line == 3
    assert "line 3" in refused.value.message
    with pytest.raises(ScriptError) as bad_json:
        unclosed = ScriptIn(kind="profile", text='{"options": [\n')
        manage.save(ctx, owner, project, "archive", unclosed)
    assert bad_json.value.line is not None
    with pytest.raises(Invalid, match="The script is empty."):
        manage.save(ctx, owner, project, "archive", ScriptIn(kind="ctp", text="  \n"))
    assert (count(ctx, DeidScript), count(ctx, DeidKey), events(ctx)) == (0, 0, [])


def test_off_and_on_are_versions_with_the_same_text(
    ctx: Context, make_project: Callable[..., str], owner: Any
) -> None:
    project = make_project()
    manage.save(ctx, owner, project, "archive", ScriptIn(kind="profile", text=PROFILE))
    off = manage.set_enabled(ctx, owner, project, "archive", False)
    assert (off.changed, off.script.version, off.script.enabled) == (True, 2, False)
    assert off.script.text == PROFILE
    with ctx.db.read() as db:
        assert in_force.script_in_force(db, project_id(ctx, project), Purpose.ARCHIVE) is None
    assert not manage.set_enabled(ctx, owner, project, "archive", False).changed
    on = manage.set_enabled(ctx, owner, project, "archive", True)
    assert (on.script.version, on.script.enabled, on.script.kind) == (3, True, ScriptKind.PROFILE)
    assert [e.detail["enabled"] for e in events(ctx)] == [True, False, True]
    with pytest.raises(NotFound, match="has no export script"):
        manage.set_enabled(ctx, owner, project, "export", False)


def test_an_unknown_purpose_is_not_found(
    ctx: Context, make_project: Callable[..., str], owner: Any
) -> None:
    project = make_project()
    with pytest.raises(NotFound, match="No de-identification purpose 'upload'"):
        manage.save(ctx, owner, project, "upload", ScriptIn(kind="profile", text=PROFILE))


@pytest.mark.parametrize(
    ("role", "error"), [("member", Forbidden), ("collaborator", Forbidden), ("outsider", NotFound)]
)
def test_only_owners_and_admins_manage_scripts(
    ctx: Context,
    make_project: Callable[..., str],
    users: dict[str, User],
    owner: Any,
    role: str,
    error: type[Exception],
) -> None:
    project = make_project()
    manage.save(ctx, owner, project, "archive", ScriptIn(kind="profile", text=PROFILE))
    actor = actor_for(users[role])
    data = ScriptIn(kind="ctp", text=CTP_NAME_ONLY)
    for call in (
        lambda: manage.save(ctx, actor, project, "archive", data),
        lambda: manage.set_enabled(ctx, actor, project, "archive", False),
        lambda: manage.newest(ctx, actor, project, "archive"),
        lambda: manage.versions(ctx, actor, project, "archive"),
    ):
        with pytest.raises(error):
            call()
    assert count(ctx, DeidScript) == 1
    admin = actor_for(users["admin"])
    assert manage.save(ctx, admin, project, "archive", data).script.created_by == "admin"
