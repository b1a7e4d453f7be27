"""The staging areas of this site, in the order the plan lists them."""

from __future__ import annotations

from scandepot.errors import NotFound
from scandepot.retention.areas import Area, AreaName
from scandepot.retention.drops import DropsArea, DropSource, IngestDrops
from scandepot.retention.files import ScratchArea, TemporaryArea
from scandepot.retention.staged import StagedArea


def areas(*, drops: DropSource | None = None) -> tuple[Area, ...]:
    """Every area; the unmatched drops from ``drops`` (the site's own, ingest's, unless
    another source is given)."""
    found: list[Area] = [
        StagedArea(unassigned=False),
        StagedArea(unassigned=True),
        TemporaryArea(),
        ScratchArea(),
    ]
    found.append(DropsArea(drops if drops is not None else IngestDrops()))
    return tuple(found)


def area(name: AreaName, *, drops: DropSource | None = None) -> Area:
    for one in areas(drops=drops):
        if one.name == name:
            return one
    raise NotFound(f"The staging area '{name}' is not kept here.", field="area")
