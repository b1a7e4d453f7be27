"""The view a DICOMweb request runs in: its root's project (if any) and the caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from scandepot.access.permissions import Action
from scandepot.http.deps import ActorDep, CtxDep
from scandepot.query.scope import Scope, open_scope


def read_scope(request: Request, ctx: CtxDep, actor: ActorDep) -> Scope:
    """Searches and retrievals: the project's view (the caller must read it), or the site."""
    with ctx.db.read() as db:
        return open_scope(db, actor, request.path_params.get("project"), Action.READ)


ReadScope = Annotated[Scope, Depends(read_scope)]
