"""The dataset's faces: `scandepot dataset` as a real process against a real server through
its whole life; the API's answers (stable address, refusals naming the field, the 409 of a
held file); the curator role given and taken by site administrators."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from scandepot.access import tokens
from scandepot.access.tokens import TokenCreate
from scandepot.catalog.access import AuditEvent, User
from scandepot.datasets import release
from tests import command
from tests.conftest import PASSWORD, LiveServer
from tests.datasets.conftest import World, validation_passes
from tests.datasets.test_lifecycle import META, made

API = "/api/v1/datasets"


@pytest.mark.interop
@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_dataset_through_the_command(world: World, live_server: LiveServer) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCANDEPOT_")}

    def run(who: str, *args: str) -> subprocess.CompletedProcess[str]:
        env["SCANDEPOT_TOKEN"] = tokens.create(world.ctx, world[who], TokenCreate(name="c")).token
        return command.run(["dataset", *args, "--url", live_server.url], env=env, timeout=120)

    sets = [f"--set={k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in META.items()]
    made_ = run("member", "create", "cohort", *sets)
    assert made_.returncode == 0, made_.stderr
    ref = made_.stdout.split()[0]
    assert ref.endswith("_D00001") and "owners: member" in made_.stdout
    bad = run("member", "edit", ref, "--set", "contact=nobody")
    assert bad.returncode == 2 and "metadata/contact" in bad.stderr
    added = run("member", "add", ref, "--session", "A/E1", "--subjects", "B/S3")
    assert added.returncode == 0 and "2 member(s)" in added.stderr
    hidden = run("member", "add", ref, "--session", "C/E4")
    assert hidden.returncode == 2 and "C/E4" in hidden.stderr
    released = run("member", "release", ref)
    assert (
        released.returncode == 0 and "v1: released, validation pending, 5 files" in released.stdout
    )
    validation_passes(world.ctx, ref, 1)
    assert run("member", "validate", ref, "1").returncode == 2  # not a curator
    assert run("curator", "validate", ref, "1", "--comment", "ok").returncode == 0
    published = run("member", "publish", ref, "1")
    assert published.returncode == 0 and "v1: published" in published.stdout
    sums = run("member", "manifest", ref, "1", "--format", "sha256")
    digest = hashlib.sha256(sums.stdout.encode()).hexdigest()
    assert f"manifest sha256 {digest}" in published.stdout
    assert run("member", "new-version", ref).stdout.startswith(f"{ref} cohort v2: draft")
    assert run("member", "withdraw", ref, "1", "--comment", "old").returncode == 0
    back = run("curator", "send-back", ref, "2")
    assert back.returncode == 2 and "comment is needed" in back.stderr
    steps = run("member", "history", ref).stdout.splitlines()
    assert [line.split("\t")[2] for line in steps] == [
        "created",
        "members_changed",
        "released",
        "validated",
        "published",
        "version_created",
        "withdrawn",
    ]
    assert steps[-1].endswith("\twithdrawn\tv1\told")
    shown = run("outsider", "show", ref)  # withdrawn: its record stays public
    assert shown.returncode == 0 and "owners" not in shown.stdout


def test_the_api_answers_at_the_stable_address(world: World, client: TestClient) -> None:
    member, outsider = ("member", PASSWORD), ("outsider", PASSWORD)
    r = client.post(API, json={"name": "cohort", "metadata": {"title": 5}}, auth=member)
    assert r.status_code == 422 and r.json()["error"]["field"] == "metadata/title"
    r = client.post(API, json={"name": "cohort", "metadata": META}, auth=member)
    assert r.status_code == 201, r.text
    ref = r.json()["id"]
    assert r.headers["location"] == f"{API}/{ref}"
    r = client.patch(f"{API}/cohort/members", json={"add_sessions": ["A/E1"]}, auth=member)
    assert r.status_code == 200 and r.json()[0]["session"] == "E1"
    assert client.get(f"{API}/{ref}", auth=outsider).status_code == 404
    assert client.post(f"{API}/{ref}/release", auth=member).status_code == 200
    r = client.get(f"{API}/{ref}/versions/1", auth=member)
    assert r.json()["url"] == f"{API}/{ref}/versions/1" and r.json()["state"] == "released"
    r = client.delete("/api/v1/projects/A/sessions/E1", auth=("owner", PASSWORD))
    assert r.status_code == 409 and "released dataset" in r.json()["error"]["message"]
    r = client.delete("/api/v1/projects/A/sessions/E1", auth=("admin", PASSWORD))
    assert r.status_code == 409 and "cohort" in r.json()["error"]["message"]
    r = client.get(f"{API}/{ref}/versions/1/manifest?format=sha256", auth=member)
    assert r.status_code == 200 and r.text.count("\n") == 2


def test_site_administrators_give_and_take_the_curator_role(
    world: World, client: TestClient
) -> None:
    r = client.patch("/api/v1/users/member", json={"curator": True}, auth=("owner", PASSWORD))
    assert r.status_code == 403
    r = client.patch("/api/v1/users/member", json={"curator": True}, auth=("admin", PASSWORD))
    assert r.status_code == 200 and r.json()["curator"] is True
    ref = made(world, "other")
    release.release(world.ctx, world["member"], ref)
    validation_passes(world.ctx, ref, 1)
    r = client.post(f"{API}/{ref}/versions/1/validate", auth=("member", PASSWORD))
    assert r.status_code == 200  # a curator now (of a dataset of their own, too)
    client.patch("/api/v1/users/member", json={"curator": False}, auth=("admin", PASSWORD))
    with world.ctx.db.read() as db:
        told = list(
            db.execute(
                select(AuditEvent.target, AuditEvent.detail)
                .where(AuditEvent.action == "user.curator")
                .order_by(AuditEvent.id)
            ).all()
        )
        assert db.scalar(select(User.is_curator).where(User.login == "member")) is False
    assert told == [("member", {"curator": True}), ("member", {"curator": False})]
