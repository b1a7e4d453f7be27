"""The script a push runs: the destination's own, else the project's export script.

A destination marked ``external`` takes nothing that has not been through one of them;
another destination (a node of the same site) may take the stored instances as they are.
The request checks the choice and the job makes it again as it starts, so a script
changed in between is the one that runs, and the push records which.
"""

from __future__ import annotations

import hashlib

from sqlalchemy.orm import Session as DBSession

from scandepot.catalog.deid import Purpose
from scandepot.catalog.push import PushDestination
from scandepot.deid import in_force, scripts
from scandepot.deid.in_force import InForce
from scandepot.errors import Invalid
from scandepot.export.deidentified import Deidentifier

DESTINATION = "destination"  # the purpose a destination's own script is labelled with


def of_destination(destination: PushDestination) -> InForce | None:
    if not destination.script_kind:
        return None
    sha256 = (
        destination.script_sha256
        or hashlib.sha256(
            (destination.script_text + "\0" + destination.script_pixel_text).encode()
        ).hexdigest()
    )
    loaded = scripts.load(
        destination.script_kind, destination.script_text, destination.script_pixel_text
    )
    return InForce(loaded, DESTINATION, destination.script_version, sha256)


def choose(db: DBSession, destination: PushDestination, project_id: int) -> InForce | None:
    """The script in force for a push of ``project_id`` to ``destination``; None when
    there is none and the destination may take the instances as stored; :class:`Invalid`
    when there is none and it is external."""
    found = of_destination(destination) or in_force.script_in_force(db, project_id, Purpose.EXPORT)
    if found is None and destination.external:
        raise Invalid(
            f"Destination '{destination.name}' is external and takes only de-identified "
            "instances, but it has no de-identification script of its own and the project "
            "has no export script in force; an owner saves one (purpose export) in the "
            "project's Manage tab, or a site administrator gives the destination one.",
            field="destination",
        )
    return found


def deidentifier(
    db: DBSession,
    destination: PushDestination,
    project_id: int,
    project: str,
    *,
    allow_burned_in: bool,
) -> Deidentifier | None:
    """The chosen script with the project's keys (made at first use: call in a write
    transaction), as downloads and transfers run it; None: sent as stored."""
    found = choose(db, destination, project_id)
    if found is None:
        return None
    keys = in_force.keys_of(db, project_id, create=True)
    return Deidentifier(project, found, keys, allow_burned_in)
