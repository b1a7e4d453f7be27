"""What a draft holds: subjects (with all their sessions at release) and sessions, from any
project the owner may read.

Each is named by its site-wide ID (``SD_S00001``, ``SD_E00001``) or as
``PROJECT/LABEL``. A change is all or nothing: one name that is not a subject or session
of a project the caller may read refuses the whole change, naming only what the caller
gave (whether it does not exist or is not theirs to read, the answer is the same).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import and_, delete, or_, select
from sqlalchemy.orm import Session as DBSession

from scandepot.access.actors import Actor
from scandepot.access.datasets import DatasetAction, load_dataset, load_version, require_dataset
from scandepot.access.permissions import Level, permission_clause
from scandepot.catalog.archive import Project, Session, Subject
from scandepot.catalog.datasets import DatasetMember, DatasetVersion, MemberKind
from scandepot.context import Context
from scandepot.datasets.drafts import the_draft
from scandepot.datasets.lifecycle import record
from scandepot.datasets.views import sees_inside
from scandepot.errors import Invalid, NotFound

MAX_NAMES = 10_000  # names in one change
SHOWN = 20  # names quoted in a refusal


class MemberChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    add_subjects: list[str] = Field(default_factory=list, max_length=MAX_NAMES)
    add_sessions: list[str] = Field(default_factory=list, max_length=MAX_NAMES)
    remove_subjects: list[str] = Field(default_factory=list, max_length=MAX_NAMES)
    remove_sessions: list[str] = Field(default_factory=list, max_length=MAX_NAMES)


@dataclass(frozen=True, slots=True)
class MemberView:
    kind: str  # subject, session
    id: str  # the site-wide ID
    project: str
    subject: str
    session: str | None


def change(ctx: Context, actor: Actor, ref: str, data: MemberChange) -> list[MemberView]:
    """Add and take out members of the draft, all or nothing; its members after."""
    with ctx.db.write() as db:
        dataset = load_dataset(db, actor, ref, DatasetAction.EDIT)
        draft = the_draft(db, dataset)
        readable = permission_clause(actor, Level.READ)
        add_subjects = _resolve(db, Subject, data.add_subjects, "add_subjects", readable)
        add_sessions = _resolve(db, Session, data.add_sessions, "add_sessions", readable)
        # Taken out: looked up among the draft's members only (it is their draft), so that
        # naming others tells nothing of projects the owner may not read.
        in_draft = select(DatasetMember.subject_id).where(DatasetMember.version_id == draft.id)
        out_subjects = _resolve(
            db, Subject, data.remove_subjects, "remove_subjects", Subject.id.in_(in_draft)
        )
        in_draft = select(DatasetMember.session_id).where(DatasetMember.version_id == draft.id)
        out_sessions = _resolve(
            db, Session, data.remove_sessions, "remove_sessions", Session.id.in_(in_draft)
        )
        _take_out(db, draft, DatasetMember.subject_id, out_subjects)
        _take_out(db, draft, DatasetMember.session_id, out_sessions)
        added = _put_in(db, draft, DatasetMember.subject_id, add_subjects, "subject_id")
        added += _put_in(db, draft, DatasetMember.session_id, add_sessions, "session_id")
        db.flush()
        details = {"added": added, "removed": len(out_subjects) + len(out_sessions)}
        record(db, actor, dataset, draft, "members_changed", details=details)
        return _members(db, draft)


def _resolve(
    db: DBSession, kind: type[Subject] | type[Session], names: Sequence[str], field: str, where: Any
) -> list[int]:
    """The ids ``names`` stand for among the rows ``where`` allows; Invalid naming those
    of ``names`` that stand for none."""
    if not names:
        return []
    ids = {n.strip() for n in names if "/" not in n}
    pairs = {tuple(n.strip().split("/", 1)) for n in names if "/" in n}
    by_pair = [and_(Project.label == p, kind.label == label) for p, label in pairs]
    rows = db.execute(
        select(kind.id, kind.stable_id, Project.label, kind.label)
        .join(Project, Project.id == kind.project_id)
        .where(or_(kind.stable_id.in_(ids), *by_pair), where)
    ).all()
    found = {sid for _id, sid, _p, _l in rows} | {f"{p}/{label}" for _id, _s, p, label in rows}
    missing = sorted({n.strip() for n in names} - found)
    if missing:
        what = "subjects" if kind is Subject else "sessions"
        shown = ", ".join(missing[:SHOWN]) + (" ..." if len(missing) > SHOWN else "")
        raise Invalid(
            f"{len(missing)} of the {what} named are not {what} of a project you may read"
            f"{' (or not in the draft, to take out)' if field.startswith('remove') else ''}: "
            f"{shown}. Nothing was changed.",
            field=field,
        )
    return sorted({row[0] for row in rows})


def _take_out(db: DBSession, draft: DatasetVersion, column: Any, ids: list[int]) -> None:
    if ids:
        db.execute(
            delete(DatasetMember).where(DatasetMember.version_id == draft.id, column.in_(ids))
        )


def _put_in(db: DBSession, draft: DatasetVersion, column: Any, ids: list[int], key: str) -> int:
    if not ids:
        return 0
    held = set(db.scalars(select(column).where(DatasetMember.version_id == draft.id)))
    new = [i for i in ids if i not in held]
    db.add_all(DatasetMember(version_id=draft.id, **{key: i}) for i in new)
    return len(new)


def listed(ctx: Context, actor: Actor, ref: str, number: int | None = None) -> list[MemberView]:
    """The members of version ``number`` (the newest when None), for owners and curators."""
    with ctx.db.read() as db:
        if number is None:
            dataset = load_dataset(db, actor, ref, DatasetAction.VIEW)
            version = db.scalar(
                select(DatasetVersion)
                .where(DatasetVersion.dataset_id == dataset.id)
                .order_by(DatasetVersion.number.desc())
                .limit(1)
            )
            if version is None:
                raise NotFound(f"Dataset '{ref}' has no version.", field="version")
        else:
            dataset, version = load_version(db, actor, ref, number, DatasetAction.VIEW)
        if not sees_inside(db, actor, dataset):
            require_dataset(db, actor, DatasetAction.EDIT, dataset)
        return _members(db, version)


def _members(db: DBSession, version: DatasetVersion) -> list[MemberView]:
    subjects = db.execute(
        select(Subject.stable_id, Project.label, Subject.label)
        .join(DatasetMember, DatasetMember.subject_id == Subject.id)
        .join(Project, Project.id == Subject.project_id)
        .where(DatasetMember.version_id == version.id)
        .order_by(Project.label, Subject.label)
    ).all()
    sessions = db.execute(
        select(Session.stable_id, Project.label, Subject.label, Session.label)
        .join(DatasetMember, DatasetMember.session_id == Session.id)
        .join(Subject, Subject.id == Session.subject_id)
        .join(Project, Project.id == Session.project_id)
        .where(DatasetMember.version_id == version.id)
        .order_by(Project.label, Subject.label, Session.label)
    ).all()
    return [MemberView(MemberKind.SUBJECT, s, p, label, None) for s, p, label in subjects] + [
        MemberView(MemberKind.SESSION, s, p, subject, label) for s, p, subject, label in sessions
    ]
