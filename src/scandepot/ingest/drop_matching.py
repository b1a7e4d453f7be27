"""Matching drops to sessions: each project's rule, tried as a file arrives, and matching
by hand from the prearchive pages.

Rules (one per project, :class:`scandepot.catalog.drops.MatchRule`):
- ``path``: the drop's leading folders name the subject and session, as the project's
  pattern says (``{subject}/{session}``, or e.g. ``physio/{session}``); the rest of the
  path is the file's path in the resource;
- ``time``: the session of the same day whose start is closest to the file's acquisition
  time, within the window; that time is a date and time in the file's name
  (``..._20261206_101500...``, ``2026-12-06T10:15:00``), else the time it arrived, both
  taken as the scanner's local time as sessions' DICOM times are;
- ``none``: by hand only.

A matched file is copied into the session's resource through archive's file code (staged,
fsynced, checksummed, catalogued), its drop row marked matched, and the dropped copy
removed. A file that matches no session waits in the drop folder.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session as DBSession

from scandepot.access import audit
from scandepot.access.actors import SYSTEM, Actor
from scandepot.access.audit import AuditAction
from scandepot.access.permissions import Action, load_project
from scandepot.archive import files, sessions
from scandepot.archive.resources import OwnerRef
from scandepot.catalog.archive import Project, Session, Subject
from scandepot.catalog.drops import DropItem, DropRule, DropState, MatchRule
from scandepot.catalog.labels import check_label
from scandepot.context import Context
from scandepot.db.base import utcnow
from scandepot.errors import Invalid, NotFound
from scandepot.ingest import drops
from scandepot.storage.store import CHUNK, StagedFile

_PLACEHOLDERS = {"{subject}", "{session}"}
_STAMP = re.compile(
    r"(?<!\d)(20\d\d)-?(0[1-9]|1[0-2])-?(0[1-9]|[12]\d|3[01])[T_ -]?"
    r"([01]\d|2[0-3])[:.-]?([0-5]\d)[:.-]?([0-5]\d)(?!\d)"
)


class DropRuleSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rule: MatchRule = MatchRule.NONE
    path_pattern: str = Field(default="{subject}/{session}", max_length=255)
    window_min: int = Field(default=120, ge=1, le=24 * 60)
    resource: str = "PHYSIO"
    quota_bytes: int | None = Field(default=None, ge=0)


@dataclass(frozen=True, slots=True)
class Target:
    session: Session
    # Each drop item's path in the resource.
    paths: dict[int, str]


def _check_pattern(pattern: str) -> str:
    parts = pattern.strip("/").split("/")
    if "{session}" not in parts or any(p in ("", ".", "..") for p in parts):
        raise Invalid(
            "path_pattern must be folders separated by '/', one of them '{session}' "
            "(and maybe '{subject}'), e.g. '{subject}/{session}'.",
            field="path_pattern",
        )
    for part in parts:
        if part not in _PLACEHOLDERS and ("{" in part or "}" in part):
            raise Invalid(f"path_pattern has an unknown part '{part}'.", field="path_pattern")
    return "/".join(parts)


def rule_of(db: DBSession, project_id: int) -> DropRule:
    """The project's rule, or the defaults when none was set (by hand only, no quota)."""
    found = db.get(DropRule, project_id)
    if found is not None:
        return found
    defaults = DropRuleSet()
    return DropRule(
        project_id=project_id,
        rule=defaults.rule.value,
        path_pattern=defaults.path_pattern,
        window_min=defaults.window_min,
        resource=defaults.resource,
        quota_bytes=None,
    )


def get_rule(ctx: Context, actor: Actor, project: str) -> DropRuleSet:
    with ctx.db.read() as db:
        found = load_project(db, actor, project, Action.PREARCHIVE)
        rule = rule_of(db, found.id)
        return DropRuleSet(
            rule=MatchRule(rule.rule),
            path_pattern=rule.path_pattern,
            window_min=rule.window_min,
            resource=rule.resource,
            quota_bytes=rule.quota_bytes,
        )


def set_rule(ctx: Context, actor: Actor, project: str, data: DropRuleSet) -> DropRuleSet:
    pattern = _check_pattern(data.path_pattern)
    resource = check_label(data.resource, field="resource")
    with ctx.db.write() as db:
        found = load_project(db, actor, project, Action.CONFIGURE)
        rule = rule_of(db, found.id)
        rule.rule, rule.path_pattern, rule.window_min = data.rule.value, pattern, data.window_min
        rule.resource, rule.quota_bytes = resource, data.quota_bytes
        db.add(rule)
        audit.record(
            db,
            actor,
            AuditAction.DROP_RULE_SET,
            project=found.label,
            rule=data.rule.value,
            resource=resource,
            quota_bytes=data.quota_bytes,
        )
    return data.model_copy(update={"path_pattern": pattern, "resource": resource})


def by_path(db: DBSession, project: Project, pattern: str, item: DropItem) -> Target | None:
    wanted = pattern.split("/")
    parts = item.path.split("/")
    if len(parts) <= len(wanted):
        return None
    labels: dict[str, str] = {}
    for want, got in zip(wanted, parts, strict=False):
        if want in _PLACEHOLDERS:
            labels[want] = got
        elif want != got:
            return None
    stmt = select(Session).where(
        Session.project_id == project.id, Session.label == labels["{session}"]
    )
    if "{subject}" in labels:
        stmt = stmt.join(Subject, Subject.id == Session.subject_id).where(
            Subject.label == labels["{subject}"]
        )
    session = db.scalar(stmt)
    if session is None:
        return None
    return Target(session, {item.id: "/".join(parts[len(wanted) :])})


def acquired_at(item: DropItem) -> dt.datetime:
    """The file's acquisition time, local and naive as DICOM times are."""
    found = _STAMP.search(item.path.rsplit("/", 1)[-1]) or _STAMP.search(item.path)
    if found is not None:
        year, month, day, hour, minute, second = (int(g) for g in found.groups())
        return dt.datetime(year, month, day, hour, minute, second)
    return item.dropped_at.astimezone().replace(tzinfo=None)


def by_time(db: DBSession, project: Project, window_min: int, item: DropItem) -> Target | None:
    when = acquired_at(item)
    candidates = db.scalars(
        select(Session).where(
            Session.project_id == project.id,
            Session.date == when.date(),
            Session.time.is_not(None),
        )
    )
    best: tuple[float, Session] | None = None
    for session in candidates:
        assert session.date is not None and session.time is not None
        gap = abs((dt.datetime.combine(session.date, session.time) - when).total_seconds())
        if gap <= window_min * 60 and (best is None or gap < best[0]):
            best = (gap, session)
    return None if best is None else Target(best[1], {item.id: item.path})


def _copy(ctx: Context, item: DropItem, project: Project) -> StagedFile:
    """A staged copy of the dropped file (checksummed again as it is copied)."""
    staged = ctx.store.stage()
    try:
        with open(drops.folder(ctx, project) / item.path, "rb") as source:
            while chunk := source.read(CHUNK):
                staged.write(chunk)
    except BaseException:
        staged.discard()
        raise
    return staged


def attach(
    ctx: Context,
    actor: Actor,
    items: Sequence[DropItem],
    target: Target,
    resource: str,
    *,
    matched_by: str,
) -> None:
    """Copy ``items`` into ``resource`` of the target session, all or none, then mark
    them matched and remove the dropped copies."""
    session = target.session
    project = session.project.label
    ref = OwnerRef(project, session.subject.label, session.label)
    staged = [(target.paths[i.id], _copy(ctx, i, session.project)) for i in items]
    try:
        files.commit_uploads(ctx, actor, ref, resource, staged)
    finally:
        for _, s in staged:
            s.discard()
    now = utcnow()
    with ctx.db.write() as db:
        for item in items:
            row = db.get(DropItem, item.id)
            if row is None:
                continue
            row.state, row.matched_at, row.session_id = DropState.MATCHED.value, now, session.id
            row.resource, row.matched_path = resource, target.paths[item.id]
            row.matched_by = matched_by
    for item in items:
        ctx.store.remove_file(drops.folder(ctx, session.project) / item.path)


def on_arrival(ctx: Context, drop_id: int) -> bool:
    """Try the project's rule on a drop that has just arrived; True when it matched."""
    with ctx.db.read() as db:
        item = db.get(DropItem, drop_id)
        if item is None or item.state != DropState.UNMATCHED.value:
            return False
        project = db.get(Project, item.project_id)
        assert project is not None
        rule = rule_of(db, project.id)
        target = None
        if rule.rule == MatchRule.PATH.value:
            target = by_path(db, project, rule.path_pattern, item)
        elif rule.rule == MatchRule.TIME.value:
            target = by_time(db, project, rule.window_min, item)
        if target is None:
            return False
        db.expunge_all()
    attach(ctx, SYSTEM, [item], target, rule.resource, matched_by=rule.rule)
    return True


def match_by_hand(
    ctx: Context,
    actor: Actor,
    project: str,
    entry: str,
    session: str,
    *,
    resource: str | None = None,
) -> int:
    """Attach the dropped file or folder ``entry`` (a path in the drop folder) to
    ``session``; returns how many files were attached."""
    entry = drops.drop_path(tuple(entry.split("/")))
    with ctx.db.read() as db:
        found = load_project(db, actor, project, Action.PREARCHIVE)
        chosen = sessions.load(db, actor, project, session, Action.UPLOAD)
        if chosen.project_id != found.id:  # one shared in: a drop stays in its project
            raise NotFound(f"Session '{session}' not found in '{project}'.", field="session")
        label = check_label(resource or rule_of(db, found.id).resource, field="resource")
        items = list(
            db.scalars(
                select(DropItem).where(
                    DropItem.project_id == found.id,
                    DropItem.state == DropState.UNMATCHED.value,
                    (DropItem.path == entry)
                    | DropItem.path.startswith(entry + "/", autoescape=True),
                )
            )
        )
        if not items:
            raise NotFound(f"Nothing unmatched was dropped at '{entry}'.", field="entry")
        cut = entry.rfind("/") + 1  # a folder keeps its own name in the resource
        db.expunge_all()
    attach(
        ctx,
        actor,
        items,
        Target(chosen, {i.id: i.path[cut:] for i in items}),
        label,
        matched_by=actor.login,
    )
    audit.record_now(
        ctx,
        actor,
        AuditAction.DROP_MATCHED,
        project=project,
        target=f"drop/{entry}",
        session=chosen.label,
        resource=label,
        files=len(items),
    )
    return len(items)
