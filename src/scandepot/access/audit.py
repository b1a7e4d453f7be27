"""The audit log: sign-ins (failed ones too), role and accessibility changes, deletes,
downloads and archive operations, with who, what, when and from where.

Events are written in the same transaction as the change they describe, so the log never
claims what did not happen and never misses what did.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session as DBSession

from scandepot.access.actors import Actor
from scandepot.access.permissions import require_site_admin
from scandepot.catalog.access import AuditEvent
from scandepot.catalog.paging import Page, PageRequest, paginate
from scandepot.context import Context


class AuditAction(enum.StrEnum):
    """Every action the audit log records; docs/access.md lists each (a test keeps it so)."""

    AUTH_LOGIN = "auth.login"
    AUTH_LOGIN_FAILED = "auth.login_failed"
    AUTH_LOGOUT = "auth.logout"
    AUTH_PASSWORD_CHANGED = "auth.password_changed"
    AUTH_TOKEN_CREATED = "auth.token_created"
    AUTH_TOKEN_REVOKED = "auth.token_revoked"
    USER_CREATED = "user.created"
    USER_ENABLED = "user.enabled"
    USER_DISABLED = "user.disabled"
    USER_SITE_ADMIN = "user.site_admin"
    USER_CURATOR = "user.curator"
    PROJECT_CREATED = "project.created"
    PROJECT_UPDATED = "project.updated"
    PROJECT_ACCESSIBILITY = "project.accessibility"
    PROJECT_ROLE_SET = "project.role_set"
    PROJECT_ROLE_REMOVED = "project.role_removed"
    PROJECT_DELETED = "project.deleted"
    SUBJECT_DELETED = "subject.deleted"
    SESSION_DELETED = "session.deleted"
    SCAN_DELETED = "scan.deleted"
    RESOURCE_DELETED = "resource.deleted"
    FILE_DELETED = "file.deleted"
    FILE_REPLACED = "file.replaced"
    FILE_DOWNLOADED = "file.downloaded"
    DOWNLOAD_ARCHIVE = "download.archive"
    UPLOAD_IMPORTED = "upload.imported"
    PREARCHIVE_RELABELLED = "prearchive.relabelled"
    PREARCHIVE_DELETED = "prearchive.deleted"
    PREARCHIVE_ARCHIVED = "prearchive.archived"
    PIPELINE_CONFIGURED = "pipeline.configured"
    JOB_LAUNCHED = "job.launched"
    JOB_CANCELLED = "job.cancelled"
    DICOM_NODE_ADDED = "dicom_node.added"
    DICOM_NODE_REMOVED = "dicom_node.removed"
    WEBHOOK_ADDED = "webhook.added"
    WEBHOOK_CHANGED = "webhook.changed"
    WEBHOOK_REMOVED = "webhook.removed"
    NOTIFY_RECIPIENT_ADDED = "notify.recipient_added"
    NOTIFY_RECIPIENT_CHANGED = "notify.recipient_changed"
    NOTIFY_RECIPIENT_REMOVED = "notify.recipient_removed"
    NOTIFY_MESSAGE_RETRIED = "notify.message_retried"
    NOTIFY_MESSAGE_DISMISSED = "notify.message_dismissed"
    SHARE_ADDED = "share.added"
    SHARE_REMOVED = "share.removed"
    TRANSFER_STARTED = "transfer.started"
    TRANSFER_CANCELLED = "transfer.cancelled"
    TRANSFER_FINISHED = "transfer.finished"
    DEID_SCRIPT_SAVED = "deid.script_saved"
    DEID_PSEUDONYMS_CHANGED = "deid.pseudonyms_changed"
    DEID_PSEUDONYMS_EXPORTED = "deid.pseudonyms_exported"
    DEID_DOWNLOAD = "deid.download"
    PUSH_DESTINATION_ADDED = "push.destination_added"
    PUSH_DESTINATION_CHANGED = "push.destination_changed"
    PUSH_DESTINATION_REMOVED = "push.destination_removed"
    PUSH_STARTED = "push.started"
    PUSH_CANCELLED = "push.cancelled"
    PUSH_FINISHED = "push.finished"
    CLINICAL_SCHEMA_SAVED = "clinical.schema_saved"
    CLINICAL_RECORDS_CHANGED = "clinical.records_changed"
    CLINICAL_EXPORTED = "clinical.exported"
    DATASET_CREATED = "dataset.created"
    DATASET_UPDATED = "dataset.updated"
    DATASET_MEMBERS_CHANGED = "dataset.members_changed"
    DATASET_VERSION_CREATED = "dataset.version_created"
    DATASET_OWNERS_CHANGED = "dataset.owners_changed"
    DATASET_DELETED = "dataset.deleted"
    DATASET_RELEASED = "dataset.released"
    DATASET_VALIDATION_STARTED = "dataset.validation_started"
    DATASET_VALIDATION_FINISHED = "dataset.validation_finished"
    DATASET_VALIDATED = "dataset.validated"
    DATASET_SENT_BACK = "dataset.sent_back"
    DATASET_PUBLISHED = "dataset.published"
    DATASET_WITHDRAWN = "dataset.withdrawn"
    DATASET_ACCESS_REQUESTED = "dataset.access_requested"
    DATASET_ACCESS_DECIDED = "dataset.access_decided"
    DATASET_ACCESS_REVOKED = "dataset.access_revoked"
    DATASET_DOWNLOADED = "dataset.downloaded"
    RETENTION_DELETED = "retention.deleted"
    RETENTION_HELD = "retention.held"
    RETENTION_RELEASED = "retention.released"
    RETENTION_SCHEDULE_SAVED = "retention.schedule_saved"
    RETENTION_SCHEDULE_REMOVED = "retention.schedule_removed"
    DROP_ACCOUNT_CREATED = "drop.account_created"
    DROP_ACCOUNT_CHANGED = "drop.account_changed"
    DROP_ACCOUNT_REMOVED = "drop.account_removed"
    DROP_RULE_SET = "drop.rule_set"
    DROP_MATCHED = "drop.matched"
    DROP_DELETED = "drop.deleted"
    SSH_KEY_ADDED = "ssh_key.added"
    SSH_KEY_REMOVED = "ssh_key.removed"


def record(
    db: DBSession,
    actor: Actor,
    action: AuditAction,
    *,
    project: str | None = None,
    target: str | None = None,
    login: str | None = None,
    **detail: Any,
) -> None:
    """Add an event to the caller's transaction. ``login`` overrides the actor's login
    (a failed sign-in names the account that was tried)."""
    db.add(
        AuditEvent(
            actor_id=actor.user_id,
            actor_login=(login if login is not None else actor.login)[:64],
            address=actor.address,
            action=action,
            project=project,
            target=target[:1024] if target else None,
            detail={k: v for k, v in detail.items() if v is not None},
        )
    )


def record_now(ctx: Context, actor: Actor, action: AuditAction, **kwargs: Any) -> None:
    """Record an event in a transaction of its own (for reads such as downloads)."""
    with ctx.db.write() as db:
        record(db, actor, action, **kwargs)


def _utc(moment: dt.datetime) -> dt.datetime:
    """A time given without a zone is taken as UTC, the zone the log is kept in."""
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment


def list_events(
    ctx: Context,
    actor: Actor,
    page: PageRequest,
    *,
    action: str | None = None,
    login: str | None = None,
    project: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> Page[AuditEvent]:
    require_site_admin(actor)
    stmt = select(AuditEvent)
    if action:
        stmt = stmt.where(
            AuditEvent.action.startswith(action.rstrip("*"), autoescape=True)
            if action.endswith("*")
            else AuditEvent.action == action
        )
    if login:
        stmt = stmt.where(AuditEvent.actor_login == login)
    if project:
        stmt = stmt.where(AuditEvent.project == project)
    if since:
        stmt = stmt.where(AuditEvent.at >= _utc(since))
    if until:
        stmt = stmt.where(AuditEvent.at < _utc(until))
    with ctx.db.read() as db:
        return paginate(
            db,
            stmt,
            page,
            sort_fields={"at": AuditEvent.at, "action": AuditEvent.action},
            default_sort="-at",
            tiebreak=AuditEvent.id.desc(),
        )
