"""What resources and files hang from, in every path form XNAT clients write it.

A project by its ID (the label here); a subject by ID or label inside its project, or by
its site-wide ID alone; an experiment by ID or label inside its project (also below its
subject), or by its site-wide ID alone; a scan by its ID inside its experiment. Each form
is read into the labels of an :class:`OwnerRef` for the label-based services, which
check the action asked. A site-wide ID the caller may not see answers as
:mod:`scandepot.archive.lookup` answers it everywhere: 404, or 401 to a guest.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Path, Request

from scandepot.api.xnat.deps import XnatActorDep
from scandepot.archive import lookup
from scandepot.archive.resources import OwnerRef
from scandepot.errors import NotFound
from scandepot.http.deps import get_ctx

Seg = Annotated[str, Path(max_length=255)]

P = "/projects/{project}"
S = "/subjects/{subject}"
E = "/experiments/{experiment}"
SCAN = "/scans/{scan}"


def project_owner(project: Seg) -> OwnerRef:
    return OwnerRef(project)


def subject_owner(request: Request, actor: XnatActorDep, project: Seg, subject: Seg) -> OwnerRef:
    label = lookup.subject_in(get_ctx(request), actor, project, subject)
    return OwnerRef(project, subject=label if label is not None else subject)


def subject_by_id(request: Request, actor: XnatActorDep, subject_id: Seg) -> OwnerRef:
    found = lookup.subject_by_id(get_ctx(request), actor, subject_id)
    return OwnerRef(found.project, subject=found.subject)


def experiment_owner(
    request: Request, actor: XnatActorDep, project: Seg, experiment: Seg
) -> OwnerRef:
    found = lookup.session_in(get_ctx(request), actor, project, experiment)
    return OwnerRef(project, session=found.session if found is not None else experiment)


def subject_experiment(
    request: Request, actor: XnatActorDep, project: Seg, subject: Seg, experiment: Seg
) -> OwnerRef:
    ctx = get_ctx(request)
    found = lookup.session_in(ctx, actor, project, experiment)
    if found is None:
        return OwnerRef(project, session=experiment)
    if lookup.subject_in(ctx, actor, project, subject) != found.subject:
        raise NotFound(
            f"Experiment '{experiment}' not found in subject '{subject}'.", field="experiment"
        )
    return OwnerRef(project, session=found.session)


def experiment_by_id(request: Request, actor: XnatActorDep, experiment: Seg) -> OwnerRef:
    found = lookup.session_by_id(get_ctx(request), actor, experiment)
    return OwnerRef(found.project, session=found.session)


def project_scan(
    request: Request, actor: XnatActorDep, project: Seg, experiment: Seg, scan: Seg
) -> OwnerRef:
    ref = experiment_owner(request, actor, project, experiment)
    return OwnerRef(ref.project, session=ref.session, scan=scan)


def subject_scan(
    request: Request, actor: XnatActorDep, project: Seg, subject: Seg, experiment: Seg, scan: Seg
) -> OwnerRef:
    ref = subject_experiment(request, actor, project, subject, experiment)
    return OwnerRef(ref.project, session=ref.session, scan=scan)


def id_scan(request: Request, actor: XnatActorDep, experiment: Seg, scan: Seg) -> OwnerRef:
    ref = experiment_by_id(request, actor, experiment)
    return OwnerRef(ref.project, session=ref.session, scan=scan)


# (name, path, dependency, level): every path form of every owner.
OWNERS: list[tuple[str, str, Callable[..., OwnerRef], str]] = [
    ("project", P, project_owner, "project"),
    ("subject", P + S, subject_owner, "subject"),
    ("subject_id", "/subjects/{subject_id}", subject_by_id, "subject"),
    ("experiment", P + E, experiment_owner, "experiment"),
    ("subject_experiment", P + S + E, subject_experiment, "experiment"),
    ("experiment_id", E, experiment_by_id, "experiment"),
    ("scan", P + E + SCAN, project_scan, "scan"),
    ("subject_scan", P + S + E + SCAN, subject_scan, "scan"),
    ("id_scan", E + SCAN, id_scan, "scan"),
]

# The experiment forms, for the routes that choose among its scans.
EXPERIMENTS = [(name, path, dep) for name, path, dep, level in OWNERS if level == "experiment"]
