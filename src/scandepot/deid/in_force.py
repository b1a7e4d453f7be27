"""The script a project has in force for a purpose, and the project's keys.

Every use (archiving, downloads, transfers, pushes, the Manage tab's test) reads them here,
so that they all run the same version with the same pseudonyms.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session as DBSession

from scandepot.catalog.deid import DeidKey, DeidScript, Pseudonym, Purpose
from scandepot.deid import scripts
from scandepot.deid.model import Keys, Script


@dataclass(frozen=True, slots=True)
class InForce:
    script: Script
    purpose: str
    version: int
    sha256: str

    @property
    def label(self) -> str:
        """What a session records of the script that made it: "archive v3 sha256:1a2b…"."""
        return f"{self.purpose} v{self.version} sha256:{self.sha256[:12]}"


def newest(db: DBSession, project_id: int, purpose: Purpose) -> DeidScript | None:
    return db.scalar(
        select(DeidScript)
        .where(DeidScript.project_id == project_id, DeidScript.purpose == purpose)
        .order_by(DeidScript.version.desc())
        .limit(1)
    )


def script_in_force(db: DBSession, project_id: int, purpose: Purpose) -> InForce | None:
    """The newest version for ``purpose``, loaded; None when there is none or it is off.
    A saved script was checked when it was saved, so loading it again does not fail."""
    row = newest(db, project_id, purpose)
    if row is None or not row.enabled:
        return None
    return InForce(
        scripts.load(row.kind, row.text, row.pixel_text), purpose, row.version, row.sha256
    )


def keys_of(db: DBSession, project_id: int, *, create: bool = True) -> Keys:
    """The project's secret and lookup table; the secret is made at first use (in the
    caller's write transaction, with ``create``)."""
    key = db.get(DeidKey, project_id)
    if key is None:
        if not create:
            raise LookupError(f"project {project_id} has no de-identification key yet")
        key = DeidKey(project_id=project_id, secret=secrets.token_hex(32))
        db.add(key)
        db.flush()
    rows = db.execute(
        select(Pseudonym.kind, Pseudonym.original, Pseudonym.pseudonym).where(
            Pseudonym.project_id == project_id
        )
    ).all()
    return Keys(bytes.fromhex(key.secret), {(kind, orig): new for kind, orig, new in rows})
