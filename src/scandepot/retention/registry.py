"""The staging areas of this site, in the order the plan lists them."""

from __future__ import annotations

from scandepot.errors import NotFound
from scandepot.retention.areas import Area, AreaName
from scandepot.retention.drops import DropsArea, DropSource
from scandepot.retention.files import ScratchArea, TemporaryArea
from scandepot.retention.staged import StagedArea


def areas(*, drops: DropSource | None = None) -> tuple[Area, ...]:
    """Every area; the unmatched drops only when their source is given (the SFTP side)."""
    found: list[Area] = [
        StagedArea(unassigned=False),
        StagedArea(unassigned=True),
        TemporaryArea(),
        ScratchArea(),
    ]
    if drops is not None:
        found.append(DropsArea(drops))
    return tuple(found)


def area(name: AreaName, *, drops: DropSource | None = None) -> Area:
    for one in areas(drops=drops):
        if one.name == name:
            return one
    raise NotFound(f"The staging area '{name}' is not kept here.", field="area")
