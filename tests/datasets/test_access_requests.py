"""Access to a published version (docs/dataset-access.md): asked with a purpose, decided
by the owners (and no one else), revoked; every step in the dataset's history and the
audit log; each user sees their own requests, the owners every one."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from scandepot.access.actors import ANONYMOUS
from scandepot.access.datasets import DatasetAction, load_version, may
from scandepot.catalog.access import AuditEvent
from scandepot.catalog.datasets import DatasetEvent, DatasetVersion, VersionState
from scandepot.catalog.paging import PageRequest
from scandepot.context import Context
from scandepot.datasets import access_requests as access
from scandepot.errors import Conflict, Forbidden, Invalid, NotFound, Unauthorized
from scandepot.notify import sender
from tests.datasets.released import Released
from tests.notify.helpers import use
from tests.notify.mailserver import MailServer

PURPOSE = "Training a segmentation model for hippocampal atrophy."


def _may_download(ctx: Context, actor: Any, made: Released) -> bool:
    with ctx.db.read() as db:
        dataset, version = load_version(db, actor, made.dataset, 1, DatasetAction.VIEW)
        return may(db, actor, DatasetAction.DOWNLOAD, dataset, version)


def test_ask_approve_revoke(ctx: Context, published: Released, people: dict[str, Any]) -> None:
    asked = access.request(ctx, people["member"], published.dataset, 1, f"  {PURPOSE}  ")
    assert (asked.state, asked.user, asked.purpose) == ("pending", "member", PURPOSE)
    assert not _may_download(ctx, people["member"], published)
    approved = access.decide(
        ctx, people["owner"], published.name, 1, asked.id, approve=True, comment="Welcome."
    )
    assert (approved.state, approved.decided_by) == ("approved", "owner")
    assert _may_download(ctx, people["member"], published)
    revoked = access.revoke(ctx, people["owner"], published.dataset, 1, asked.id)
    assert revoked.state == "revoked"
    assert not _may_download(ctx, people["member"], published)
    with ctx.db.read() as db:
        steps = db.execute(
            select(DatasetEvent.action, DatasetEvent.login).order_by(DatasetEvent.id)
        ).all()
        audited = db.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert steps == [
        ("access_requested", "member"),
        ("access_decided", "owner"),
        ("access_revoked", "owner"),
    ]
    assert [a for a in audited if a.startswith("dataset.")] == [
        "dataset.access_requested",
        "dataset.access_decided",
        "dataset.access_revoked",
    ]
    # Asked again after a revocation: a new request, the old one kept.
    again = access.request(ctx, people["member"], published.dataset, 1, PURPOSE)
    assert again.id != asked.id and again.state == "pending"


def test_refused(ctx: Context, published: Released, people: dict[str, Any]) -> None:
    asked = access.request(ctx, people["collaborator"], published.dataset, 1, PURPOSE)
    refused = access.decide(
        ctx, people["owner"], published.dataset, 1, asked.id, approve=False, comment="Not now."
    )
    assert (refused.state, refused.decision_comment) == ("refused", "Not now.")
    assert not _may_download(ctx, people["collaborator"], published)
    with pytest.raises(Conflict, match="only a pending one is decided"):
        access.decide(ctx, people["owner"], published.dataset, 1, asked.id, approve=True)
    with pytest.raises(Conflict, match="only an approval is revoked"):
        access.revoke(ctx, people["owner"], published.dataset, 1, asked.id)


def test_approval_by_someone_not_an_owner_is_refused(
    ctx: Context, published: Released, people: dict[str, Any]
) -> None:
    asked = access.request(ctx, people["member"], published.dataset, 1, PURPOSE)
    for who in ("member", "outsider", "collaborator"):
        with pytest.raises(Forbidden, match="Only the dataset's owners"):
            access.decide(ctx, people[who], published.dataset, 1, asked.id, approve=True)
    with pytest.raises(Unauthorized):
        access.decide(ctx, ANONYMOUS, published.dataset, 1, asked.id, approve=True)
    assert access.get(ctx, people["member"], published.dataset, 1, asked.id).state == "pending"
    # A site administrator may act for the owners.
    done = access.decide(ctx, people["admin"], published.dataset, 1, asked.id, approve=True)
    assert done.state == "approved"


@pytest.mark.parametrize(
    ("purpose", "message"),
    [
        ("", "The purpose is required"),
        ("   short ", "at least 10 characters"),
        ("x" * (access.PURPOSE_MAX + 1), "at most 4000 characters"),
    ],
)
def test_a_purpose_is_required_and_bounded(
    ctx: Context, published: Released, people: dict[str, Any], purpose: str, message: str
) -> None:
    with pytest.raises(Invalid, match=message) as caught:
        access.request(ctx, people["member"], published.dataset, 1, purpose)
    assert caught.value.field == "purpose"
    found = access.of_version(ctx, people["owner"], published.dataset, 1, PageRequest())
    assert found.total == 0


def test_what_cannot_be_asked(ctx: Context, published: Released, people: dict[str, Any]) -> None:
    with pytest.raises(Unauthorized):
        access.request(ctx, ANONYMOUS, published.dataset, 1, PURPOSE)
    with pytest.raises(Conflict, match="You own this dataset"):
        access.request(ctx, people["owner"], published.dataset, 1, PURPOSE)
    access.request(ctx, people["member"], published.dataset, 1, PURPOSE)
    with pytest.raises(Conflict, match="your request is pending"):
        access.request(ctx, people["member"], published.dataset, 1, PURPOSE)
    with pytest.raises(NotFound):
        access.request(ctx, people["member"], published.dataset, 2, PURPOSE)
    with ctx.db.write() as db:
        version = db.get(DatasetVersion, published.version_id)
        assert version is not None
        version.state = VersionState.VALIDATED.value  # not public: unseen by outsiders
    with pytest.raises(NotFound):
        access.request(ctx, people["outsider"], published.dataset, 1, PURPOSE)


def test_who_sees_which_requests(ctx: Context, published: Released, people: dict[str, Any]) -> None:
    mine = access.request(ctx, people["member"], published.dataset, 1, PURPOSE)
    theirs = access.request(ctx, people["collaborator"], published.dataset, 1, PURPOSE)
    every = access.of_version(ctx, people["owner"], published.dataset, 1, PageRequest())
    assert [v.id for v in every.items] == [theirs.id, mine.id]  # newest first
    own = access.of_version(ctx, people["member"], published.dataset, 1, PageRequest())
    assert [v.id for v in own.items] == [mine.id]
    assert [v.id for v in access.mine(ctx, people["member"], PageRequest()).items] == [mine.id]
    assert access.mine(ctx, people["outsider"], PageRequest()).total == 0
    with pytest.raises(NotFound):  # another's request
        access.get(ctx, people["member"], published.dataset, 1, theirs.id)
    assert access.get(ctx, people["owner"], published.dataset, 1, theirs.id).user == "collaborator"
    with pytest.raises(Unauthorized):
        access.mine(ctx, ANONYMOUS, PageRequest())


def test_approval_of_a_withdrawn_version_is_refused(
    ctx: Context, published: Released, people: dict[str, Any]
) -> None:
    asked = access.request(ctx, people["member"], published.dataset, 1, PURPOSE)
    access.decide(ctx, people["owner"], published.dataset, 1, asked.id, approve=True)
    other = access.request(ctx, people["collaborator"], published.dataset, 1, PURPOSE)
    with ctx.db.write() as db:
        version = db.get(DatasetVersion, published.version_id)
        assert version is not None
        version.state = VersionState.WITHDRAWN.value
    assert not _may_download(ctx, people["member"], published)  # approved, yet withdrawn
    with pytest.raises(Conflict, match="access is given to a published version"):
        access.decide(ctx, people["owner"], published.dataset, 1, other.id, approve=True)


def test_the_asker_is_told_of_the_decision_and_of_a_revocation(
    ctx: Context, published: Released, people: dict[str, Any], mail_server: MailServer
) -> None:
    use(ctx, mail_server)
    asked = access.request(ctx, people["member"], published.dataset, 1, PURPOSE)
    sender.run_once(ctx)
    told = mail_server.wait_for(1)
    assert [r.recipients for r in told] == [["owner@example.org"]]  # the owners hear first
    access.decide(ctx, people["owner"], published.dataset, 1, asked.id, approve=True)
    access.revoke(ctx, people["owner"], published.dataset, 1, asked.id, comment="Ended.")
    sender.run_once(ctx)
    received = mail_server.wait_for(3)[1:]
    to = {a for r in received for a in r.recipients}
    assert to == {"member@example.org", "owner@example.org"}
    text = (
        next(r for r in received if "member@example.org" in r.recipients)
        .message.get_body(("plain",))
        .get_content()
    )  # type: ignore[union-attr]
    assert "Ended." in text
    # Nobody else asked is told: the collaborator has no request.
    assert all("collaborator@example.org" not in r.recipients for r in received)
