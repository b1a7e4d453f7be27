"""The access matrix's dataset: version 1 of "world", published (with its figures), owned
by the owner, holding the world's archived session W1; the member's access to it
approved, the spare user's asked and pending; version 2 a draft."""

from __future__ import annotations

from sqlalchemy import select

from scandepot.catalog.access import User
from scandepot.catalog.datasets import AccessState, DatasetAccess, DatasetVersion, VersionState
from scandepot.context import Context
from scandepot.datasets import aggregates
from tests.datasets.released import Archived, release

# Who gets what, by actor, for the routes of a published version; site-wide: the
# project's accessibility does not change them. (anonymous, outsider, collaborator,
# member, owner, admin), as SITE.
DATASET_LEVELS = {
    # The validation's report: the owners and the curators (none among the actors).
    "dataset_report": (401, 403, 403, 403, "ok", "ok"),
    # Asking: any signed-in user but the owner, and the member who holds access already.
    "dataset_ask": (401, "ok", "ok", 409, 409, "ok"),
    # The owners' decisions on the spare user's request (or the member's approval).
    "dataset_edit": (401, 403, 403, 403, "ok", "ok"),
    # One request: for the owners and the requester (the spare user, no actor).
    "dataset_request": (401, 404, 404, 404, "ok", "ok"),
    # The files: the owners and approved users.
    "dataset_download": (401, 403, 403, "ok", "ok", "ok"),
}


def add_dataset(ctx: Context) -> None:
    made = release(ctx, [Archived("P", "", "W1")], name="world", state=VersionState.PUBLISHED)
    with ctx.db.write() as db:
        version = db.get(DatasetVersion, made.version_id)
        assert version is not None
        version.validation, version.validation_report = "passed", {"state": "passed"}
        version.aggregates = aggregates.compute(db, version, suppress_below=5)
        db.add(
            DatasetVersion(
                dataset_id=version.dataset_id,
                number=2,
                state=VersionState.DRAFT.value,
                meta=dict(version.meta),
                created_by="owner",
            )
        )
        for login, state in (("member", AccessState.APPROVED), ("spare", AccessState.PENDING)):
            user_id = db.scalar(select(User.id).where(User.login == login))
            assert user_id is not None
            db.add(
                DatasetAccess(
                    dataset_id=version.dataset_id,
                    version_id=version.id,
                    user_id=user_id,
                    purpose="The access matrix's world.",
                    state=state.value,
                    decided_by="owner" if state is AccessState.APPROVED else None,
                )
            )


def request_id(ctx: Context, state: str) -> int:
    """The world's request in ``state`` (approved: the member's; pending: the spare's)."""
    with ctx.db.read() as db:
        found = db.scalar(
            select(DatasetAccess.id).where(DatasetAccess.state == state).order_by(DatasetAccess.id)
        )
    assert found is not None
    return found
