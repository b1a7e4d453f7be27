"""A released version's life after release (docs/datasets.md)::

    draft --release--> released --validate--> validated --publish--> published
                            \\--send back--> sent_back                   |
    (any released state) --withdraw--> withdrawn  <----------------------/

Curators validate or send back (*curate*); owners publish, withdraw and start a new
version (*edit*), which is a draft copied from the last version (metadata and members).
Every step goes through :func:`record`: the dataset's history, the audit log, and an
event in the journal that tells the owners (notify/).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session as DBSession

from scandepot.access import audit
from scandepot.access.actors import Actor
from scandepot.access.audit import AuditAction
from scandepot.access.datasets import DatasetAction, load_dataset, load_version, require_curator
from scandepot.catalog import journal
from scandepot.catalog.datasets import (
    Dataset,
    DatasetEvent,
    DatasetFile,
    DatasetMember,
    DatasetVersion,
    ValidationState,
    VersionState,
)
from scandepot.context import Context
from scandepot.datasets import aggregates
from scandepot.datasets.views import VersionView, version_view
from scandepot.db.base import utcnow
from scandepot.errors import Conflict, Invalid
from scandepot.events import DatasetChanged

# Steps the owners are not told of by message (they made them, on a draft).
QUIET = frozenset({"created", "updated", "members_changed"})
COMMENT_MAX = 10_000
# The states a version holds its files in (withdrawn lets go).
HOLDING = (
    VersionState.RELEASED,
    VersionState.SENT_BACK,
    VersionState.VALIDATED,
    VersionState.PUBLISHED,
)


def _asker(action: str, details: dict[str, Any]) -> tuple[str, ...]:
    """Who asked, for the steps that answer an access request: they are told too."""
    login = details.get("login")
    if action in ("access_decided", "access_revoked") and isinstance(login, str):
        return (login,)
    return ()


def record(
    db: DBSession,
    actor: Actor,
    dataset: Dataset,
    version: DatasetVersion | None,
    action: str,
    *,
    comment: str = "",
    details: dict[str, Any] | None = None,
) -> None:
    """One step of ``dataset``: its history row, the audit record (``dataset.{action}``)
    and, unless the step is :data:`QUIET`, the event that tells its owners."""
    details = dict(details or {})
    db.add(
        DatasetEvent(
            dataset_id=dataset.id,
            version_id=version.id if version is not None else None,
            action=action,
            login=actor.login,
            at=utcnow(),
            comment=comment,
            details=details,
        )
    )
    target = f"dataset {dataset.stable_id}"
    if version is not None:
        target += f" v{version.number}"
    audit.record(
        db,
        actor,
        AuditAction(f"dataset.{action}"),
        target=target,
        comment=comment or None,
        **details,
    )
    if action not in QUIET:
        number = version.number if version is not None else None
        journal.record(
            db,
            DatasetChanged(
                dataset.stable_id,
                dataset.name,
                number,
                action,
                actor.login,
                comment,
                people=_asker(action, details),
            ),
        )


def _comment(value: str, *, needed: bool = False) -> str:
    value = value.strip()
    if needed and not value:
        raise Invalid("comment is needed: say what to change.", field="comment")
    if len(value) > COMMENT_MAX:
        raise Invalid(f"comment is at most {COMMENT_MAX} characters.", field="comment")
    return value


def _in_state(version: DatasetVersion, *states: VersionState, doing: str) -> None:
    if version.state not in states:
        wanted = " or ".join(s.value for s in states)
        raise Conflict(
            f"Version {version.number} is {version.state}; only a version that is {wanted} "
            f"can be {doing}.",
            field="version",
        )


def get_version(ctx: Context, actor: Actor, ref: str, number: int) -> VersionView:
    """Version ``number`` as ``actor`` may see it (its stable address)."""
    with ctx.db.read() as db:
        dataset, version = load_version(db, actor, ref, number, DatasetAction.VIEW)
        return version_view(db, actor, dataset, version)


def waiting(ctx: Context, actor: Actor) -> list[VersionView]:
    """The curators' queue: every released version awaiting its curator, oldest first."""
    with ctx.db.read() as db:
        require_curator(db, actor)
        rows = db.execute(
            select(Dataset, DatasetVersion)
            .join(DatasetVersion, DatasetVersion.dataset_id == Dataset.id)
            .where(DatasetVersion.state == VersionState.RELEASED)
            .order_by(DatasetVersion.released_at, DatasetVersion.id)
        ).all()
        return [version_view(db, actor, dataset, version) for dataset, version in rows]


def validate(ctx: Context, actor: Actor, ref: str, number: int, comment: str = "") -> VersionView:
    """A curator accepts a released version whose automatic validation passed."""
    text = _comment(comment)
    with ctx.db.write() as db:
        dataset, version = load_version(db, actor, ref, number, DatasetAction.CURATE)
        _in_state(version, VersionState.RELEASED, doing="validated")
        if version.validation != ValidationState.PASSED:
            raise Conflict(
                f"The automatic validation of version {number} is {version.validation}; a "
                "version is validated once it has passed (send it back otherwise).",
                field="validation",
            )
        version.state = VersionState.VALIDATED
        version.curator_comment = text
        version.updated_at = utcnow()
        record(db, actor, dataset, version, "validated", comment=text)
        return version_view(db, actor, dataset, version)


def send_back(ctx: Context, actor: Actor, ref: str, number: int, comment: str) -> VersionView:
    """A curator returns a released version to its owners with what to change; they start
    a new version from it."""
    text = _comment(comment, needed=True)
    with ctx.db.write() as db:
        dataset, version = load_version(db, actor, ref, number, DatasetAction.CURATE)
        _in_state(version, VersionState.RELEASED, VersionState.VALIDATED, doing="sent back")
        version.state = VersionState.SENT_BACK
        version.curator_comment = text
        version.updated_at = utcnow()
        record(db, actor, dataset, version, "sent_back", comment=text)
        return version_view(db, actor, dataset, version)


def publish(ctx: Context, actor: Actor, ref: str, number: int) -> VersionView:
    """An owner puts a validated version in the public catalogue, with its aggregates
    computed now and stored (small counts suppressed, ``dataset_suppress_below``)."""
    with ctx.db.write() as db:
        dataset, version = load_version(db, actor, ref, number, DatasetAction.EDIT)
        _in_state(version, VersionState.VALIDATED, doing="published")
        suppress = ctx.settings.dataset_suppress_below
        version.aggregates = aggregates.compute(db, version, suppress_below=suppress)
        version.state = VersionState.PUBLISHED
        version.published_at = version.updated_at = utcnow()
        record(db, actor, dataset, version, "published")
        return version_view(db, actor, dataset, version)


def withdraw(ctx: Context, actor: Actor, ref: str, number: int, reason: str = "") -> VersionView:
    """An owner withdraws a released version: out of the catalogue, no more downloads,
    and its files let go (the archive may delete them); the manifest stays."""
    text = _comment(reason)
    with ctx.db.write() as db:
        dataset, version = load_version(db, actor, ref, number, DatasetAction.EDIT)
        _in_state(version, *HOLDING, doing="withdrawn")
        db.execute(
            update(DatasetFile).where(DatasetFile.version_id == version.id).values(file_id=None)
        )
        version.state = VersionState.WITHDRAWN
        version.updated_at = utcnow()
        record(db, actor, dataset, version, "withdrawn", comment=text, details={"reason": text})
        return version_view(db, actor, dataset, version)


def new_version(ctx: Context, actor: Actor, ref: str) -> VersionView:
    """A new draft, copied from the last version: its metadata and its members."""
    with ctx.db.write() as db:
        dataset = load_dataset(db, actor, ref, DatasetAction.EDIT)
        last = db.scalar(
            select(DatasetVersion)
            .where(DatasetVersion.dataset_id == dataset.id)
            .order_by(DatasetVersion.number.desc())
            .limit(1)
        )
        assert last is not None  # a dataset is created with its first draft
        if last.state == VersionState.DRAFT:
            raise Conflict(
                f"Version {last.number} is still a draft: change it rather than start another.",
                field="version",
            )
        draft = DatasetVersion(
            dataset_id=dataset.id,
            number=last.number + 1,
            state=VersionState.DRAFT,
            meta=dict(last.meta),
            created_by=actor.login,
        )
        db.add(draft)
        db.flush()
        copied = db.execute(
            select(DatasetMember.subject_id, DatasetMember.session_id).where(
                DatasetMember.version_id == last.id
            )
        ).all()
        db.add_all(
            DatasetMember(version_id=draft.id, subject_id=subject, session_id=session)
            for subject, session in copied
        )
        db.flush()
        record(db, actor, dataset, draft, "version_created", details={"from": last.number})
        return version_view(db, actor, dataset, draft)
