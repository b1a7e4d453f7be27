"""Which session a path names: ``/projects/{p}/experiments/{e}``,
``/projects/{p}/subjects/{s}/experiments/{e}`` or ``/experiments/{id}``.

Inside a project a session is named by its label or its site-wide ID, a subject likewise;
outside, by its site-wide ID alone. What is found is given as labels for the label-based
services, which make the permission check; a path that names nothing answers the error the
service gives for it (401 to a guest, 404 to a user who may not see the project), so the
path forms cannot tell more than the native API does.
"""

from __future__ import annotations

from dataclasses import dataclass

from scandepot.access.actors import Actor
from scandepot.archive import lookup, sessions
from scandepot.context import Context
from scandepot.errors import NotFound, ScandepotError, Unauthorized


@dataclass(frozen=True, slots=True)
class Place:
    """What a path names, as given: ``project`` and ``subject`` None where it has none."""

    experiment: str
    project: str | None = None
    subject: str | None = None


def subject_label(ctx: Context, actor: Actor, project: str, ref: str) -> str:
    """The label of the subject ``ref`` names (label or ID); ``ref`` itself when none does,
    for the service to answer as it answers an unknown label."""
    return lookup.subject_in(ctx, actor, project, ref) or ref


def find(ctx: Context, actor: Actor, place: Place) -> lookup.Found | None:
    """The session ``place`` names, or None when none does (or the caller may not see it)."""
    if place.project is None:
        try:
            return lookup.session_by_id(ctx, actor, place.experiment)
        except NotFound:
            return None
    found = lookup.session_in(ctx, actor, place.project, place.experiment)
    if found is None:
        return None
    if place.subject is not None:
        subject = lookup.subject_in(ctx, actor, place.project, place.subject)
        if subject is None or subject.lower() != found.subject.lower():
            return None
    return found


def not_found(ctx: Context, actor: Actor, place: Place) -> Exception:
    """The error for a path that names no session the caller may see: the one the session
    service gives (401, 403, 404), else a 404 naming the experiment."""
    if place.project is not None:
        try:
            sessions.get(ctx, actor, place.project, place.experiment)
        except ScandepotError as exc:  # the service's own answer: 401, 404
            return exc
    if actor.is_anonymous:
        return Unauthorized()  # a guest learns nothing of what exists
    return NotFound(f"Experiment '{place.experiment}' not found.", field="experiment")


def resolve(ctx: Context, actor: Actor, place: Place) -> lookup.Found:
    found = find(ctx, actor, place)
    if found is None:
        raise not_found(ctx, actor, place)
    return found
