"""The pages of datasets for signed-in people, without a browser, on both catalogs: an
owner's datasets and a dataset's management (metadata with its errors by field, members,
owners, the steps of its life), the curators' queue, and a visitor's access request on a
version's public page, decided by an owner, with the download it opens. Who may open each
page and send each form: tests/access/test_matrix.py."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from scandepot.catalog.datasets import DatasetAccess, DatasetVersion
from scandepot.datasets import drafts, members, release
from scandepot.datasets.drafts import DatasetCreate
from scandepot.datasets.members import MemberChange
from scandepot.datasets.validation_report import Tally
from tests.conftest import PASSWORD
from tests.datasets.conftest import World, validation_passes, world
from tests.web.test_pages import _signed_in

__all__ = ["world"]  # the datasets' world: projects A, B (member reads), C, a curator

META = {
    "title": "Brain MRI at 3T",
    "description": "T1w of two cohorts.",
    "authors": "Ada Lovelace; ; ada@example.org; 0000-0002-1825-0097\nGrace Hopper",
    "contact": "Data desk; ; desk@example.org",
    "licence": "CC-BY-4.0",
    "keywords": "MRI\nbrain",
    "funding": "Grant 1",
}


def auth(login: str) -> tuple[str, str]:
    return (login, PASSWORD)


def _made(client: TestClient) -> str:
    """A dataset of the member's made through the form; its ID."""
    r = client.post(
        "/my-datasets",
        data={"name": "brain", "title": "Brain"},
        auth=auth("member"),
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    found = re.fullmatch(r"/my-datasets/(\w+_D\d+)", r.headers["location"])
    assert found is not None
    return found.group(1)


def _state(world: World, ref: str, number: int) -> str:
    return drafts.get(world.ctx, world["member"], ref).versions[-number].state


def test_an_owner_makes_fills_and_releases_a_dataset(world: World, client: TestClient) -> None:
    ref = _made(client)
    base = f"/my-datasets/{ref}"
    shown = client.get("/my-datasets", auth=auth("member")).text
    assert ref in shown and "draft" in shown
    assert ref not in client.get("/my-datasets", auth=auth("outsider")).text
    # A field that breaks the schema is named beside its field; nothing is saved.
    wrong = {**META, "contact": "Data desk; ; not-an-email"}
    r = client.post(base + "/metadata", data=wrong, auth=auth("member"))
    assert r.status_code == 422
    assert re.search(r'class="field-error" id="err-contact">metadata/contact/email', r.text)
    assert "not-an-email" in r.text  # what was typed stays in the form
    assert drafts.get(world.ctx, world["member"], ref).versions[0].metadata == {"title": "Brain"}
    r = client.post(base + "/metadata", data=META, auth=auth("member"))
    assert r.status_code == 200 and "The draft&#39;s metadata is saved." in r.text
    meta = drafts.get(world.ctx, world["member"], ref).versions[0].metadata
    assert meta["authors"] == [
        {"name": "Ada Lovelace", "email": "ada@example.org", "orcid": "0000-0002-1825-0097"},
        {"name": "Grace Hopper"},
    ]
    assert meta["contact"] == {"name": "Data desk", "email": "desk@example.org"}
    assert meta["keywords"] == ["MRI", "brain"] and meta["funding"] == ["Grant 1"]
    # Members: a session of a project the member may not read is refused, naming it.
    r = client.post(base + "/members", data={"add_sessions": "C/E4"}, auth=auth("member"))
    assert "C/E4" in r.text and "Nothing was changed." in r.text
    add = {"add_sessions": "A/E1\n" + world.session_id("E2"), "add_subjects": "B/S3"}
    r = client.post(base + "/members", data=add, auth=auth("member"))
    assert "The draft holds 3 member(s)." in r.text
    sessions = members.listed(world.ctx, world["member"], ref)
    e2 = next(m.id for m in sessions if m.session == "E2")
    r = client.post(base + "/members", data={"remove_sessions": e2}, auth=auth("member"))
    assert "The draft holds 2 member(s)." in r.text
    # Owners: another is added, the last one stays.
    r = client.post(base + "/owners", data={"login": "collaborator"}, auth=auth("member"))
    assert "collaborator owns the dataset too." in r.text
    r = client.post(base + "/owners/collaborator/remove", data={}, auth=auth("member"))
    r = client.post(base + "/owners/member/remove", data={}, auth=auth("member"))
    assert "the last owner" in r.text
    # Not theirs: the outsider does not find it; nothing changes.
    r = client.post(base + "/release", data={}, auth=auth("outsider"), follow_redirects=False)
    assert r.status_code == 404
    r = client.post(base + "/release", data={}, auth=auth("member"))
    assert "Version 1 is released" in r.text and "Awaiting a curator" in r.text
    assert _state(world, ref, 1) == "released"
    history = r.text[r.text.index('id="history"') :]
    assert "released" in history and "members changed" in history


def _released(world: World, name: str = "knee") -> str:
    ctx, member = world.ctx, world["member"]
    meta = {
        "title": "Knee",
        "description": "D",
        "authors": [{"name": "A"}],
        "contact": {"name": "C", "email": "c@example.org"},
        "licence": "CC0-1.0",
    }
    ref = drafts.create(ctx, member, DatasetCreate(name=name, metadata=meta)).stable_id
    members.change(ctx, member, ref, MemberChange(add_sessions=["A/E1"]))
    release.release(ctx, member, ref)
    validation_passes(ctx, ref, 1)
    return ref


def test_the_curators_queue_validates_and_sends_back(world: World, client: TestClient) -> None:
    ref = _released(world)
    assert client.get("/curation", auth=auth("member")).status_code == 403
    queue = client.get("/curation", auth=auth("curator")).text
    assert f"q-{ref}-1" in queue and "Knee" in queue
    step = f"/my-datasets/{ref}/v1/"
    # A send-back says what to change.
    r = client.post(step + "send-back", data={"back": "queue"}, auth=auth("curator"))
    assert "comment is needed" in r.text and _state(world, ref, 1) == "released"
    r = client.post(step + "validate", data={}, auth=auth("member"), follow_redirects=False)
    assert r.status_code == 403 and _state(world, ref, 1) == "released"
    said = {"back": "queue", "comment": "Add the T2 series."}
    r = client.post(step + "send-back", data=said, auth=auth("curator"))
    assert str(r.url).endswith("/curation") and "No released version awaits" in r.text
    assert _state(world, ref, 1) == "sent_back"
    page = client.get(f"/my-datasets/{ref}", auth=auth("member")).text
    assert "Curator: Add the T2 series." in page and "Start a new version" in page
    # The owner starts version 2 from it, releases it; the curator validates; it is published.
    client.post(f"/my-datasets/{ref}/new-version", data={}, auth=auth("member"))
    client.post(f"/my-datasets/{ref}/release", data={}, auth=auth("member"))
    validation_passes(world.ctx, ref, 2)
    r = client.post(f"/my-datasets/{ref}/v2/validate", data={}, auth=auth("curator"))
    assert "Version 2 of" in r.text and _state(world, ref, 2) == "validated"
    r = client.post(f"/my-datasets/{ref}/v2/publish", data={}, auth=auth("member"))
    assert "is published" in r.text and _state(world, ref, 2) == "published"
    r = client.post(f"/my-datasets/{ref}/v2/nothing", data={}, auth=auth("member"))
    assert r.status_code == 404


def _published(world: World, client: TestClient) -> str:
    ref = _released(world, "spine")
    client.post(f"/my-datasets/{ref}/v1/validate", data={}, auth=auth("curator"))
    client.post(f"/my-datasets/{ref}/v1/publish", data={}, auth=auth("member"))
    return ref


def test_a_visitor_asks_an_owner_decides_and_the_download_opens(
    world: World, client: TestClient
) -> None:
    ref = _published(world, client)
    public = f"/datasets/{ref}/v1"
    assert "Request access" not in client.get(public).text  # anonymous: the figures alone
    owner_view = client.get(public, auth=auth("member")).text
    assert "Manage the dataset" in owner_view and "download?format=zip" in owner_view
    seen = client.get(public, auth=auth("outsider")).text
    assert "Request access" in seen and "download?format=" not in seen
    r = client.post(public + "/access", data={"purpose": "short"}, auth=auth("outsider"))
    assert "at least 10 characters" in r.text
    purpose = {"purpose": "Training a segmentation model."}
    r = client.post(public + "/access", data=purpose, auth=auth("outsider"))
    assert "Your request is sent" in r.text and "badge-pending" in r.text
    assert "Request access</button>" not in r.text
    with world.ctx.db.read() as db:
        request_id = db.scalar(select(DatasetAccess.id))
    manage = client.get(f"/my-datasets/{ref}", auth=auth("member")).text
    assert "Training a segmentation model." in manage and f"request-{request_id}" in manage
    decide = f"/my-datasets/{ref}/v1/requests/{request_id}/"
    r = client.post(decide + "approve", data={}, auth=auth("outsider"), follow_redirects=False)
    assert r.status_code == 403
    r = client.post(decide + "approve", data={"comment": "Welcome."}, auth=auth("member"))
    assert "approve done" in r.text
    seen = client.get(public, auth=auth("outsider")).text
    assert "badge-approved" in seen and "Welcome." in seen
    link = re.search(r'href="(/api/v1/datasets/[^"]+/download\?format=zip)"', seen)
    assert link is not None
    got = client.get(link.group(1), auth=auth("outsider"))
    assert got.status_code == 200 and got.content[:2] == b"PK"
    r = client.post(decide + "revoke", data={"comment": "Ended."}, auth=auth("member"))
    assert "revoke done" in r.text
    seen = client.get(public, auth=auth("outsider")).text
    assert "badge-revoked" in seen and "Request access" in seen
    assert client.get(link.group(1), auth=auth("outsider")).status_code == 403


def test_the_forms_need_the_csrf_token(world: World, client: TestClient) -> None:
    token = _signed_in(client, "member")
    asked = {"name": "yes", "title": "Yes"}
    r = client.post("/my-datasets", data=asked, follow_redirects=False)
    assert r.status_code == 403
    with world.ctx.db.read() as db:
        assert db.scalar(select(DatasetVersion.meta)) is None
    r = client.post("/my-datasets", data={**asked, "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/my-datasets/")
    with world.ctx.db.read() as db:
        assert db.scalar(select(DatasetVersion.meta)) == {"title": "Yes"}
    assert 'name="csrf_token"' in client.get(r.headers["location"]).text


def test_a_new_dataset_needs_a_free_name(world: World, client: TestClient) -> None:
    _made(client)
    r = client.post("/my-datasets", data={"name": "BRAIN", "title": "T"}, auth=auth("member"))
    assert "exists already" in r.text
    r = client.post("/my-datasets", data={"name": "a b", "title": "T"}, auth=auth("member"))
    assert r.status_code == 200 and "flash-error" in r.text
    r = client.post("/my-datasets", data={"name": "untitled"}, auth=auth("member"))
    assert "metadata/title" in r.text
    assert len(drafts.list_mine(world.ctx, world["member"])) == 1


def test_a_page_for_a_dataset_not_yours(world: World, client: TestClient) -> None:
    ref = _released(world)
    assert client.get(f"/my-datasets/{ref}", auth=auth("outsider")).status_code == 404
    r = client.get(f"/my-datasets/{ref}", auth=auth("curator"))
    assert r.status_code == 200 and "Release version" not in r.text
    assert "Validation:" in r.text  # the report, for the curator
    checks = {
        name: Tally(checked=2).to_json(name, done=True)
        for name in ("deidentified", "clinical", "images")
    }
    failed = Tally(checked=2)
    failed.problem(path="A/S1/E1/scans/1/DICOM/0.dcm", reason="size differs")
    checks["checksums"] = failed.to_json("checksums", done=True)
    with world.ctx.db.write() as db:
        db.execute(
            update(DatasetVersion).values(
                validation="failed", validation_report={"state": "failed", "checks": checks}
            )
        )
    r = client.get("/curation", auth=auth("curator"))
    assert "Files match the manifest" in r.text and "reason: size differs" in r.text
    r = client.get(f"/my-datasets/{ref}", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
