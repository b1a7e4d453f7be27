"""The last step of a move: delete from the source exactly what was copied and verified.

A scan goes when every one of its resources was copied; a session-level resource when
it was; the session when nothing is left in it; a subject the request named when it has
no session and no resource left. Whatever was not copied (resources left out by the
request, or by a clash) stays in the source, and the report lists it.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session as DBSession

from scandepot.access import audit
from scandepot.access.actors import Actor
from scandepot.access.audit import AuditAction
from scandepot.archive import holds, layout
from scandepot.catalog.archive import Resource, Scan, Session, Subject
from scandepot.catalog.transfers import ItemStatus, TransferItem
from scandepot.context import Context
from scandepot.storage.changes import Changes


def delete_source(ctx: Context, actor: Actor, item: TransferItem, *, project: str) -> list[str]:
    """Delete ``item``'s verified source; returns what stays there ("scan 4", ...)."""
    copied = set(item.verified.get("copied", []))
    kept: list[str] = []
    with Changes(ctx.store) as changes, ctx.db.write() as db:
        session = db.get(Session, item.source_session_id) if item.source_session_id else None
        if session is not None:
            chosen = holds.of_session(session.id)
            holds.refuse_held(db, actor, chosen, doing=f"move session '{session.label}'")
            kept = _delete_in(ctx, db, changes, session, copied)
            if not kept:
                changes.set_aside(
                    ctx.archive_path(
                        layout.session_dir(project, session.subject.label, session.label)
                    )
                )
                db.delete(session)
            audit.record(
                db,
                actor,
                AuditAction.SESSION_DELETED,
                project=project,
                target=item.source_session if not kept else f"{item.source_session} (in part)",
                moved_to=f"transfer {item.transfer_id}",
            )
        row = db.get(TransferItem, item.id)
        assert row is not None
        row.status = ItemStatus.DELETED.value
        row.verified = {**row.verified, "kept_in_source": kept}
    return kept


def _delete_in(
    ctx: Context, db: DBSession, changes: Changes, session: Session, copied: set[str]
) -> list[str]:
    kept: list[str] = []
    owner = layout.Owner(session.project, session.subject, session)
    for scan in db.scalars(select(Scan).where(Scan.session_id == session.id)):
        held = set(
            db.scalars(select(Resource.label).where(Resource.parent_key == f"scan:{scan.id}"))
        )
        if not held or not {f"scan {scan.label}:{label}" for label in held} <= copied:
            if f"scan {scan.label}:DICOM" in copied or not held:
                kept.append(f"scan {scan.label} (resources not copied)")
            else:
                kept.append(f"scan {scan.label}")
            continue
        changes.set_aside(
            ctx.archive_path(layout.Owner(session.project, session.subject, session, scan).dir)
        )
        db.delete(scan)
    for resource in db.scalars(select(Resource).where(Resource.parent_key == owner.key)):
        if f"session:{resource.label}" in copied:
            changes.set_aside(ctx.archive_path(owner.resource_files_dir(resource.label)).parent)
            db.delete(resource)
        else:
            kept.append(f"session resource {resource.label}")
    db.flush()
    return kept


def delete_subject_if_empty(
    ctx: Context, actor: Actor, subject_id: int, copied: set[str], *, project: str
) -> bool:
    """Delete a subject the move named, once it holds nothing that was not copied."""
    with Changes(ctx.store) as changes, ctx.db.write() as db:
        subject = db.get(Subject, subject_id)
        if subject is None:
            return False
        sessions = db.scalar(select(func.count(Session.id)).where(Session.subject_id == subject.id))
        labels = set(
            db.scalars(select(Resource.label).where(Resource.parent_key == f"subject:{subject.id}"))
        )
        if sessions or not {f"subject:{label}" for label in labels} <= copied:
            return False
        changes.set_aside(ctx.archive_path(layout.subject_dir(project, subject.label)))
        db.delete(subject)
        audit.record(db, actor, AuditAction.SUBJECT_DELETED, project=project, target=subject.label)
        return True
