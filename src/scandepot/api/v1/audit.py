"""/api/v1/audit: the audit log, for site administrators."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query

from scandepot.access import audit
from scandepot.api.deps import ActorDep, CtxDep, PageDep
from scandepot.api.v1.accounts import AuditOut, audit_out
from scandepot.api.v1.schemas import PageOut, page_out

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("", response_model=PageOut[AuditOut])
def list_events(
    ctx: CtxDep,
    actor: ActorDep,
    page: PageDep,
    action: Annotated[str | None, Query(max_length=48, description="e.g. auth.* ")] = None,
    login: Annotated[str | None, Query(max_length=64, description="who acted")] = None,
    project: Annotated[str | None, Query(max_length=64)] = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> PageOut[AuditOut]:
    found = audit.list_events(
        ctx, actor, page, action=action, login=login, project=project, since=since, until=until
    )
    return page_out(found, audit_out)
