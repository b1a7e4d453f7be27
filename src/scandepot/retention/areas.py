"""The staging areas retention keeps in bounds, and what each of them holds.

An area lists its :class:`Item` s and removes one inside the run's transaction
(:meth:`Area.remove`): it checks again, under the transaction, that the item is still
the one planned (and not busy), sets its files aside through :class:`Changes` (put back
if the catalog does not commit, removed once it has) and deletes its catalog rows. So an
item is either whole or gone; never half-deleted yet listed.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.orm import Session as DBSession

from scandepot.context import Context
from scandepot.errors import Invalid
from scandepot.storage.changes import Changes


class AreaName(enum.StrEnum):
    PREARCHIVE = "prearchive"  # staged sessions of a project, not archived
    UNASSIGNED = "unassigned"  # staged studies no routing rule gave a project
    TEMPORARY = "temporary"  # temporary files of uploads and downloads (tmp/*.part)
    SCRATCH = "scratch"  # pipeline jobs' work folders left behind (tmp/job-*)
    DROPS = "drops"  # SFTP drops that matched no session


@dataclass(frozen=True, slots=True)
class Item:
    area: AreaName
    key: str  # unique and stable within the area
    description: str
    project: str | None  # the project's label, if the item has one
    eligible_at: dt.datetime  # UTC: when its time began (a staged session: scanned)
    size: int  # bytes
    scanner: str | None = None  # AE title or station name, where known
    people: tuple[str, ...] = ()  # logins to warn besides the project's (the uploader)


class Area(Protocol):
    name: AreaName
    title: str

    def items(self, ctx: Context) -> list[Item]:
        """Every item the area holds now."""
        ...

    def remove(self, ctx: Context, db: DBSession, changes: Changes, item: Item) -> bool:
        """Remove ``item`` in the caller's transaction; False (nothing done) when it is
        gone, busy or no longer the item planned."""
        ...


TITLES = {
    AreaName.PREARCHIVE: "Prearchive (staged sessions not archived)",
    AreaName.UNASSIGNED: "Unassigned studies",
    AreaName.TEMPORARY: "Temporary upload and download files",
    AreaName.SCRATCH: "Pipelines' scratch folders",
    AreaName.DROPS: "Unmatched SFTP drops",
}


def area_name(value: str, *, field: str = "area") -> AreaName:
    try:
        return AreaName(value.strip().lower())
    except ValueError:
        known = ", ".join(a.value for a in AreaName)
        raise Invalid(f"No staging area '{value}' (known: {known}).", field=field) from None
