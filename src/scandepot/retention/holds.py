"""Holds: a site administrator keeps one item of a staging area from retention.

A held item is never deleted, whatever its schedule says, until it is released; the plan
shows it with its hold. Holding and releasing are audited. A hold names the item by its
area and key, and stays when the item goes another way (archived, deleted by hand), so
that the audit trail and the plan agree; releasing it then is harmless.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as DBSession

from scandepot.access import audit
from scandepot.access.actors import Actor
from scandepot.access.audit import AuditAction
from scandepot.access.permissions import require_site_admin
from scandepot.catalog.retention import KEY_LENGTH, RetentionHold
from scandepot.context import Context
from scandepot.errors import Conflict, NotFound
from scandepot.retention.areas import Item, area_name
from scandepot.retention.drops import DropSource
from scandepot.retention.registry import area as area_of


class HoldIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    area: str
    key: str = Field(min_length=1, max_length=KEY_LENGTH)
    reason: str = Field(default="", max_length=500)


@dataclass(frozen=True, slots=True)
class HoldView:
    id: int
    area: str
    key: str
    reason: str
    held_by: str
    held_at: dt.datetime


def _view(row: RetentionHold) -> HoldView:
    return HoldView(row.id, row.area, row.item_key, row.reason, row.held_by, row.held_at)


def list_holds(ctx: Context, actor: Actor) -> list[HoldView]:
    require_site_admin(actor)
    with ctx.db.read() as db:
        rows = db.scalars(select(RetentionHold).order_by(RetentionHold.id)).all()
        return [_view(r) for r in rows]


def _item(ctx: Context, data: HoldIn, drops: DropSource | None) -> Item:
    name = area_name(data.area)
    for item in area_of(name, drops=drops).items(ctx):
        if item.key == data.key:
            return item
    raise NotFound(f"No item '{data.key}' in the staging area '{name}'.", field="key")


def hold(ctx: Context, actor: Actor, data: HoldIn, *, drops: DropSource | None = None) -> HoldView:
    """Hold an item that is in its area now."""
    require_site_admin(actor)
    item = _item(ctx, data, drops)
    try:
        with ctx.db.write() as db:
            row = RetentionHold(
                area=item.area.value, item_key=item.key, reason=data.reason, held_by=actor.login
            )
            db.add(row)
            db.flush()
            audit.record(
                db,
                actor,
                AuditAction.RETENTION_HELD,
                project=item.project,
                target=f"{item.area.value}:{item.key}",
                reason=data.reason or None,
            )
            return _view(row)
    except IntegrityError:
        raise Conflict(f"'{item.key}' is held already.", field="key") from None


def release(ctx: Context, actor: Actor, hold_id: int) -> None:
    require_site_admin(actor)
    with ctx.db.write() as db:
        row = db.get(RetentionHold, hold_id) if 0 < hold_id < 2**31 else None
        if row is None:
            raise NotFound(f"Hold {hold_id} not found.", field="id")
        _release(db, actor, row)


def release_item(ctx: Context, actor: Actor, area: str, key: str) -> None:
    """Release the hold on an item named by its area and key."""
    require_site_admin(actor)
    name = area_name(area)
    with ctx.db.write() as db:
        row = db.scalar(
            select(RetentionHold).where(
                RetentionHold.area == name.value, RetentionHold.item_key == key
            )
        )
        if row is None:
            raise NotFound(f"'{key}' in '{name}' is not held.", field="key")
        _release(db, actor, row)


def _release(db: DBSession, actor: Actor, row: RetentionHold) -> None:
    audit.record(
        db,
        actor,
        AuditAction.RETENTION_RELEASED,
        target=f"{row.area}:{row.item_key}",
        held_by=row.held_by,
        reason=row.reason or None,
    )
    db.delete(row)
