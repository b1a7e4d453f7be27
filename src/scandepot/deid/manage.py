"""A project's de-identification scripts: saved as versions, turned on and off, listed.

Project owners (and site admins) manage them: the one check, ``Action.CONFIGURE``, as
XNAT keeps a project's anonymization script on its owners' Manage tab. A script is loaded
(:func:`scandepot.deid.scripts.load`) before it is saved, so a malformed one is refused
naming its line and nothing is written. Every save is a new version; the newest is in
force (:mod:`scandepot.deid.in_force`); turning a purpose off or on is a new version too,
with the same text. Every change is audited (``deid.script_saved``). docs/deid.md.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session as DBSession

from scandepot.access import audit
from scandepot.access.actors import Actor
from scandepot.access.audit import AuditAction
from scandepot.access.permissions import Action
from scandepot.archive import projects
from scandepot.catalog.archive import Project
from scandepot.catalog.deid import DeidScript, Purpose, ScriptKind
from scandepot.context import Context
from scandepot.deid import in_force, scripts
from scandepot.errors import Invalid, NotFound

MAX_SCRIPT_CHARS = 1_000_000


class ScriptIn(BaseModel):
    """A script as an owner saves it."""

    model_config = ConfigDict(extra="forbid")

    kind: ScriptKind
    text: str = Field(max_length=MAX_SCRIPT_CHARS)
    # A CTP DicomPixelAnonymizer script run after the element rules; "" for none.
    pixel_text: str = Field(default="", max_length=MAX_SCRIPT_CHARS)
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class ScriptVersion:
    """One saved version of a project's script for a purpose."""

    project: str
    purpose: str
    version: int
    kind: str
    text: str
    pixel_text: str
    sha256: str
    enabled: bool
    created_by: str
    created_at: datetime

    @property
    def label(self) -> str:
        """As sessions record it (in_force.InForce.label): "archive v3 sha256:1a2b…"."""
        return f"{self.purpose} v{self.version} sha256:{self.sha256[:12]}"


@dataclass(frozen=True, slots=True)
class Saved:
    script: ScriptVersion
    changed: bool  # False: the newest version was the same; nothing was written


def purpose_of(value: str) -> Purpose:
    try:
        return Purpose(value)
    except ValueError:
        raise NotFound(
            f"No de-identification purpose '{value}': 'archive' or 'export'.", field="purpose"
        ) from None


def digest(text: str, pixel_text: str) -> str:
    """The SHA-256 a version is known by: of its text followed by its pixel text."""
    return hashlib.sha256((text + pixel_text).encode("utf-8")).hexdigest()


def check(kind: str, text: str, pixel_text: str = "") -> None:
    """Load the script as every use will: :class:`ScriptError` naming the line if not."""
    if not text.strip():
        raise Invalid("The script is empty.", field="script")
    scripts.load(kind, text, pixel_text)


def _view(project: str, row: DeidScript) -> ScriptVersion:
    return ScriptVersion(
        project=project,
        purpose=row.purpose,
        version=row.version,
        kind=row.kind,
        text=row.text,
        pixel_text=row.pixel_text,
        sha256=row.sha256,
        enabled=row.enabled,
        created_by=row.created_by,
        created_at=row.created_at,
    )


def _add_version(
    db: DBSession, actor: Actor, project: Project, purpose: Purpose, data: ScriptIn
) -> DeidScript:
    """A new version after the newest, the project's key made if it has none, audited."""
    newest = db.scalar(
        select(func.max(DeidScript.version)).where(
            DeidScript.project_id == project.id, DeidScript.purpose == purpose
        )
    )
    row = DeidScript(
        project_id=project.id,
        purpose=purpose.value,
        version=(newest or 0) + 1,
        kind=data.kind.value,
        text=data.text,
        pixel_text=data.pixel_text,
        sha256=digest(data.text, data.pixel_text),
        enabled=data.enabled,
        created_by=actor.login[:64],
    )
    db.add(row)
    db.flush()
    # Made with the first script, so that every use after it (archiving, downloads, the
    # sample test) finds the same secret and gives the same pseudonyms.
    in_force.keys_of(db, project.id, create=True)
    audit.record(
        db,
        actor,
        AuditAction.DEID_SCRIPT_SAVED,
        project=project.label,
        target=f"{purpose.value} v{row.version}",
        kind=row.kind,
        sha256=row.sha256,
        enabled=row.enabled,
    )
    return row


def save(ctx: Context, actor: Actor, project: str, purpose: str, data: ScriptIn) -> Saved:
    """Save ``data`` as the newest version for ``purpose``; the same as the newest
    (kind, text, pixel text, on or off): nothing written."""
    with ctx.db.read() as db:  # refused before the script is read: no hint to outsiders
        projects.load(db, actor, project, Action.CONFIGURE)
    chosen = purpose_of(purpose)
    check(data.kind, data.text, data.pixel_text)
    return _store(ctx, actor, project, chosen, data)


def _store(ctx: Context, actor: Actor, project: str, chosen: Purpose, data: ScriptIn) -> Saved:
    with ctx.db.write() as db:
        proj = projects.load(db, actor, project, Action.CONFIGURE)
        newest = in_force.newest(db, proj.id, chosen)
        if newest is not None and (
            newest.kind,
            newest.text,
            newest.pixel_text,
            newest.enabled,
        ) == (data.kind.value, data.text, data.pixel_text, data.enabled):
            return Saved(_view(proj.label, newest), changed=False)
        return Saved(_view(proj.label, _add_version(db, actor, proj, chosen, data)), changed=True)


def set_enabled(ctx: Context, actor: Actor, project: str, purpose: str, enabled: bool) -> Saved:
    """Turn ``purpose`` on or off: a new version with the newest's text. Turning on loads
    the script again, so that one the loaders no longer take is refused now."""
    with ctx.db.read() as db:
        proj = projects.load(db, actor, project, Action.CONFIGURE)
        chosen = purpose_of(purpose)
        newest = in_force.newest(db, proj.id, chosen)
        if newest is None:
            raise NotFound(f"Project '{proj.label}' has no {chosen.value} script.", field="purpose")
        data = ScriptIn(
            kind=ScriptKind(newest.kind),
            text=newest.text,
            pixel_text=newest.pixel_text,
            enabled=enabled,
        )
    if enabled:
        check(data.kind, data.text, data.pixel_text)
    return _store(ctx, actor, project, chosen, data)


def newest(ctx: Context, actor: Actor, project: str, purpose: str) -> ScriptVersion | None:
    """The newest version for ``purpose`` (in force when enabled); None when none."""
    with ctx.db.read() as db:
        proj = projects.load(db, actor, project, Action.CONFIGURE)
        chosen = purpose_of(purpose)
        row = in_force.newest(db, proj.id, chosen)
        return None if row is None else _view(proj.label, row)


def version(ctx: Context, actor: Actor, project: str, purpose: str, number: int) -> ScriptVersion:
    with ctx.db.read() as db:
        proj = projects.load(db, actor, project, Action.CONFIGURE)
        chosen = purpose_of(purpose)
        row = db.scalar(
            select(DeidScript).where(
                DeidScript.project_id == proj.id,
                DeidScript.purpose == chosen,
                DeidScript.version == number,
            )
        )
        if row is None:
            raise NotFound(
                f"Project '{proj.label}' has no {chosen.value} script version {number}.",
                field="version",
            )
        return _view(proj.label, row)


def versions(ctx: Context, actor: Actor, project: str, purpose: str) -> list[ScriptVersion]:
    """Every version for ``purpose``, newest first."""
    with ctx.db.read() as db:
        proj = projects.load(db, actor, project, Action.CONFIGURE)
        chosen = purpose_of(purpose)
        rows = db.scalars(
            select(DeidScript)
            .where(DeidScript.project_id == proj.id, DeidScript.purpose == chosen)
            .order_by(DeidScript.version.desc())
        )
        return [_view(proj.label, row) for row in rows]


def in_use(ctx: Context, actor: Actor, project: str) -> dict[str, ScriptVersion | None]:
    """The newest version of each purpose (None where none was saved)."""
    with ctx.db.read() as db:
        proj = projects.load(db, actor, project, Action.CONFIGURE)
        found: dict[str, ScriptVersion | None] = {}
        for purpose in Purpose:
            row = in_force.newest(db, proj.id, purpose)
            found[purpose.value] = None if row is None else _view(proj.label, row)
        return found
