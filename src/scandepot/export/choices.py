"""What a download can be narrowed to in a project: the resource labels and scan types
present, for the download page to offer as choices."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select

from scandepot.access.actors import Actor
from scandepot.access.permissions import Action
from scandepot.archive import projects
from scandepot.archive.models import Resource, Scan, Session
from scandepot.context import Context

MAX_CHOICES = 500


@dataclass(frozen=True, slots=True)
class Choices:
    resources: list[str]
    scan_types: list[str]


def download_choices(ctx: Context, actor: Actor, project: str) -> Choices:
    with ctx.db.read() as db:
        proj = projects.load(db, actor, project, Action.DOWNLOAD)
        labels = db.scalars(
            select(Resource.label)
            .where(Resource.project_id == proj.id, Resource.session_id.is_not(None))
            .distinct()
            .order_by(Resource.label)
            .limit(MAX_CHOICES)
        ).all()
        types = db.scalars(
            select(Scan.type)
            .join(Session, Session.id == Scan.session_id)
            .where(Session.project_id == proj.id, Scan.type.is_not(None))
            .distinct()
            .order_by(Scan.type)
            .limit(MAX_CHOICES)
        ).all()
    return Choices(list(labels), [t for t in types if t])


def exact_types(types: list[str]) -> str | None:
    """The scan-type pattern that matches exactly the types chosen (and nothing else)."""
    if not types:
        return None
    return "^(" + "|".join(re.escape(t) for t in types) + ")$"
