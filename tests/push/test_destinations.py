"""Setting up push destinations: site administrators only, each field checked with a clear
error naming it, secrets stored encrypted and never shown back, scripts counted, projects
allowed and disallowed, audit entries without a secret in them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from scandepot.access.actors import ANONYMOUS, SYSTEM
from scandepot.access.users import actor_for
from scandepot.catalog.access import AuditEvent, User
from scandepot.catalog.push import PushDestination
from scandepot.context import Context
from scandepot.errors import Conflict, Forbidden, Invalid, NotFound, Unauthorized
from scandepot.push import destinations
from scandepot.push.destinations import DestinationChange, DestinationCreate
from scandepot.push.stow import StowSender

SECRET = "pa55-word-never-shown"
PROFILE = '{"options": []}'


def dicomweb(**fields: Any) -> DestinationCreate:
    base: dict[str, Any] = {"name": "ref", "kind": "dicomweb", "url": "https://node.example/dw"}
    return DestinationCreate(**{**base, **fields})


def stored_row(ctx: Context, name: str) -> PushDestination:
    with ctx.db.read() as db:
        row = destinations.load(db, name)
        db.expunge(row)
        return row


def test_a_destination_is_added_shown_and_its_secret_stored_encrypted(
    ctx: Context, make_project: Callable[..., str]
) -> None:
    project = make_project()
    view = destinations.add(
        ctx,
        SYSTEM,
        dicomweb(
            url="https://node.example/dicom-web/",
            auth="basic",
            username="sender",
            secret=SECRET,
            projects=[project],
            script_kind="profile",
            script_text=PROFILE,
        ),
    )
    assert view.url == "https://node.example/dicom-web"  # without the trailing slash
    assert view.secret_set and view.projects == [project]
    assert view.script_version == 1 and view.script_sha256 and len(view.script_sha256) == 64
    assert view.verify_tls and view.external and view.concurrency == 4
    assert SECRET not in repr(view)
    row = stored_row(ctx, "ref")
    assert row.secret and SECRET not in row.secret
    peer = destinations.http_peer(ctx, row)
    assert peer.secret == SECRET
    assert [v.name for v in destinations.list_destinations(ctx, SYSTEM)] == ["ref"]
    with ctx.db.read() as db:
        events = db.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert [e.action for e in events][-1] == "push.destination_added"
    assert events[-1].detail["kind"] == "dicomweb" and events[-1].detail["projects"] == [project]
    assert all(SECRET not in str(e.detail) for e in events)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://node.example/dw", "http:// or https://"),
        ("file:///etc/passwd", "http:// or https://"),
        ("javascript:alert(1)", "http:// or https://"),
        ("https:///no-host", "must name a host"),
        ("http://user:pw@node.example/", "user name or password"),
        ("http://node.example/a b", "spaces"),
        ("http://node.example:99999/", "not a URL"),
        ("", "needs a url"),
    ],
)
def test_a_url_that_is_not_http_is_refused(ctx: Context, url: str, why: str) -> None:
    with pytest.raises(Invalid, match=why) as caught:
        destinations.add(ctx, SYSTEM, dicomweb(url=url))
    assert caught.value.field == "url"


@pytest.mark.parametrize(
    ("fields", "field", "why"),
    [
        (
            {"kind": "dimse", "url": None, "ae_title": "REF", "host": "127.0.0.1"},
            "ae_title",
            "ae_title, host and port",
        ),
        (
            {"kind": "dimse", "url": None, "ae_title": "A\\B", "host": "h", "port": 104},
            "ae_title",
            "no backslash",
        ),
        (
            {
                "kind": "dimse",
                "url": None,
                "ae_title": "REF",
                "host": "h",
                "port": 104,
                "calling_ae": "X" * 17,
            },
            "calling_ae",
            "1 to 16",
        ),
        (
            {"kind": "dimse", "url": None, "ae_title": "REF", "host": "h", "port": 70000},
            "port",
            "less than or equal",
        ),
        ({"kind": "dimse", "ae_title": "REF", "host": "h", "port": 104}, "url", "not for a dimse"),
        ({"kind": "xnat"}, "remote_project", "needs remote_project"),
        ({"auth": "basic", "secret": SECRET}, "username", "needs a username"),
        ({"auth": "basic", "username": "u"}, "secret", "needs a secret or secret_env"),
        ({"auth": "bearer", "secret": SECRET, "secret_env": "TOKEN"}, "secret_env", "not both"),
        ({"auth": "bearer", "secret_env": "1BAD"}, "secret_env", "environment variable"),
        ({"auth": "none", "secret": SECRET}, "auth", "give no username or secret"),
        ({"auth": "digest"}, "auth", "none"),
        ({"ca_bundle": "/no/such/ca.pem"}, "ca_bundle", "not a file"),
        ({"ca_bundle": "relative.pem"}, "ca_bundle", "absolute path"),
        ({"client_key": "/etc/hostname"}, "client_key", "goes with client_cert"),
        ({"script_kind": "profile", "script_text": '{"options": ["Nope"]}'}, None, "Nope"),
        ({"script_text": PROFILE}, "script_kind", "needs its script_kind"),
        ({"concurrency": 33}, "concurrency", "less than or equal to 32"),
        ({"concurrency": 0}, "concurrency", "greater than or equal to 1"),
        ({"clinical": "rest"}, "clinical_url", "needs a clinical_url"),
        ({"clinical": "rest", "clinical_url": "ftp://x/"}, "clinical_url", "http://"),
        ({"clinical": "xnat"}, "clinical", "for xnat destinations"),
        ({"name": "bad name"}, "name", "letters, digits"),
    ],
)
def test_bad_fields_are_refused_naming_the_field(
    ctx: Context, fields: dict[str, Any], field: str | None, why: str
) -> None:
    with pytest.raises(Invalid, match=why) as caught:
        data = {"name": "ref", "kind": "dicomweb", "url": "https://node.example/dw", **fields}
        destinations.add(ctx, SYSTEM, DestinationCreate.model_construct(**data))
    if field is not None:
        assert caught.value.field == field
    with ctx.db.read() as db:
        assert db.scalar(select(PushDestination.id)) is None


def test_only_site_administrators(ctx: Context, users: dict[str, User]) -> None:
    owner = actor_for(users["owner"])
    with pytest.raises(Forbidden):
        destinations.add(ctx, owner, dicomweb())
    with pytest.raises(Unauthorized):
        destinations.list_destinations(ctx, ANONYMOUS)
    admin = actor_for(users["admin"])
    destinations.add(ctx, admin, dicomweb())
    for call in (
        lambda a: destinations.show(ctx, a, "ref"),
        lambda a: destinations.change(ctx, a, "ref", DestinationChange(enabled=False)),
        lambda a: destinations.remove(ctx, a, "ref"),
        lambda a: destinations.check(ctx, a, "ref"),
    ):
        with pytest.raises(Forbidden):
            call(owner)


def test_names_are_unique_and_projects_must_exist(ctx: Context) -> None:
    destinations.add(ctx, SYSTEM, dicomweb())
    with pytest.raises(Conflict):
        destinations.add(ctx, SYSTEM, dicomweb())
    with pytest.raises(NotFound, match="NOPE"):
        destinations.add(ctx, SYSTEM, dicomweb(name="other", projects=["NOPE"]))
    with pytest.raises(NotFound):
        destinations.show(ctx, SYSTEM, "missing")


def test_change_keeps_what_is_not_given_and_counts_script_versions(ctx: Context) -> None:
    destinations.add(ctx, SYSTEM, dicomweb(auth="bearer", secret=SECRET))
    first = stored_row(ctx, "ref").secret
    view = destinations.change(ctx, SYSTEM, "ref", DestinationChange(description="EUCAIM node"))
    assert view.secret_set and stored_row(ctx, "ref").secret == first
    assert view.script_version == 0 and view.script_sha256 is None
    view = destinations.change(
        ctx, SYSTEM, "ref", DestinationChange(script_kind="profile", script_text=PROFILE)
    )
    assert view.script_version == 1
    sha = view.script_sha256
    view = destinations.change(
        ctx, SYSTEM, "ref", DestinationChange(script_text='{"options": ["RetainUIDs"]}')
    )
    assert view.script_version == 2 and view.script_sha256 != sha
    view = destinations.change(
        ctx, SYSTEM, "ref", DestinationChange(script_kind="", script_text="")
    )
    assert view.script_version == 3 and view.script_kind is None and view.script_sha256 is None
    # To the environment: the stored secret goes; back to none: no secret at all.
    view = destinations.change(ctx, SYSTEM, "ref", DestinationChange(secret_env="PUSH_TOKEN"))
    assert view.secret_set and view.secret_env == "PUSH_TOKEN"
    assert stored_row(ctx, "ref").secret is None
    view = destinations.change(ctx, SYSTEM, "ref", DestinationChange(auth="none", secret_env=""))
    assert not view.secret_set
    with pytest.raises(Invalid, match="needs a secret"):
        destinations.change(ctx, SYSTEM, "ref", DestinationChange(auth="bearer"))
    with ctx.db.read() as db:
        changed = db.scalars(
            select(AuditEvent).where(AuditEvent.action == "push.destination_changed")
        ).all()
    assert ["description"] in [e.detail["fields"] for e in changed]
    assert all(SECRET not in str(e.detail) for e in changed)


def test_allow_disallow_and_remove(ctx: Context, make_project: Callable[..., str]) -> None:
    a, b = make_project(), make_project()
    destinations.add(ctx, SYSTEM, dicomweb(projects=[a]))
    assert destinations.allow(ctx, SYSTEM, "ref", b).projects == sorted([a, b])
    assert destinations.allow(ctx, SYSTEM, "ref", b).projects == sorted([a, b])
    assert destinations.disallow(ctx, SYSTEM, "ref", a).projects == [b]
    with pytest.raises(NotFound):
        destinations.allow(ctx, SYSTEM, "ref", "NOPE")
    destinations.remove(ctx, SYSTEM, "ref")
    assert destinations.list_destinations(ctx, SYSTEM) == []
    with ctx.db.read() as db:
        actions = list(db.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
    assert actions[-1] == "push.destination_removed"


def test_check_says_why_a_destination_cannot_be_reached(ctx: Context, tmp_path: Path) -> None:
    from tests.orthanc import free_port

    destinations.add(ctx, SYSTEM, dicomweb(url=f"http://127.0.0.1:{free_port()}/dw"))
    checked = destinations.check(ctx, SYSTEM, "ref")
    assert not checked.ok and "unreachable" in checked.reason
    assert "refused" in checked.reason.lower()
    destinations.add(
        ctx, SYSTEM, dicomweb(name="env", auth="bearer", secret_env="SCANDEPOT_TEST_UNSET_TOKEN")
    )
    checked = destinations.check(ctx, SYSTEM, "env")
    assert not checked.ok and "SCANDEPOT_TEST_UNSET_TOKEN" in checked.reason


def test_a_secret_from_the_environment_is_read_when_the_sender_opens(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    destinations.add(ctx, SYSTEM, dicomweb(auth="bearer", secret_env="SCANDEPOT_TEST_TOKEN"))
    row = stored_row(ctx, "ref")
    assert row.secret is None and row.secret_env == "SCANDEPOT_TEST_TOKEN"
    monkeypatch.setenv("SCANDEPOT_TEST_TOKEN", "first")
    assert destinations.http_peer(ctx, row).secret == "first"
    monkeypatch.setenv("SCANDEPOT_TEST_TOKEN", "rotated")
    sender = destinations.open_sender(ctx, row)
    try:
        assert isinstance(sender, StowSender) and sender.peer.secret == "rotated"
    finally:
        sender.close()
