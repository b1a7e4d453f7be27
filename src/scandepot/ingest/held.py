"""What a project holds already of some instances, by SOP Instance UID and SHA-256, and
where: a resumed upload sends only the rest, and an upload of data held already is told
where each part is rather than landing nowhere."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session as DBSession

from scandepot.access.actors import Actor
from scandepot.access.permissions import Action
from scandepot.archive import projects
from scandepot.catalog.archive import Project, Scan, Session, Subject
from scandepot.catalog.prearchive import Instance, StagedSession
from scandepot.context import Context

ARCHIVE, PREARCHIVE = "archive", "prearchive"


@dataclass(frozen=True, slots=True)
class Held:
    SOPInstanceUID: str
    sha256: str
    where: str  # "prearchive:<id>" or "archive:<session ID>"


@dataclass(frozen=True, slots=True)
class Place:
    """A staged or archived session holding some of the instances asked about."""

    kind: str  # ARCHIVE or PREARCHIVE
    ref: str  # the session's site-wide ID (SD_E...), or the staged session's number
    subject: str | None
    session: str | None
    files: int

    @property
    def labels(self) -> str:
        return f"{self.subject or '(no subject)'}/{self.session or '(no session)'}"

    @property
    def described(self) -> str:
        if self.kind == ARCHIVE:
            return f"archived session {self.ref} ({self.labels})"
        return f"staged session {self.ref} ({self.labels})"


Row = tuple[str, str, str, str, str | None, str | None]  # sop, sha256, kind, ref, labels


def _rows(db: DBSession, target: Project, pairs: list[tuple[str, str]]) -> Iterator[Row]:
    for start in range(0, len(pairs), 400):
        match = tuple_(Instance.SOPInstanceUID, Instance.sha256).in_(pairs[start : start + 400])
        for sop, sha, staged_id, subject, session in db.execute(
            select(
                Instance.SOPInstanceUID,
                Instance.sha256,
                Instance.staged_id,
                StagedSession.subject,
                StagedSession.session,
            )
            .join(StagedSession, Instance.staged_id == StagedSession.id)
            .where(match, StagedSession.project_key == target.label)
        ):
            if sha is not None:
                yield sop, sha, PREARCHIVE, str(staged_id), subject, session
        for sop, sha, stable_id, subject, session in db.execute(
            select(
                Instance.SOPInstanceUID,
                Instance.sha256,
                Session.stable_id,
                Subject.label,
                Session.label,
            )
            .join(Scan, Instance.scan_id == Scan.id)
            .join(Session, Scan.session_id == Session.id)
            .join(Subject, Session.subject_id == Subject.id)
            .where(match, Session.project_id == target.id)
        ):
            if sha is not None:
                yield sop, sha, ARCHIVE, str(stable_id), subject, session


def held(ctx: Context, actor: Actor, project: str, wanted: Iterable[tuple[str, str]]) -> list[Held]:
    """Which of (SOPInstanceUID, SHA-256) the project holds already, in its prearchive or
    its archive, with those very bytes: what a resumed upload need not send again.
    Instances received over DICOM and not yet hashed (until their session is built) are
    not reported: sent again, they are compared on arrival and count as duplicates."""
    pairs = list(dict.fromkeys(wanted))
    with ctx.db.read() as db:
        target = projects.load(db, actor, project, Action.UPLOAD)
        return [
            Held(sop, sha, f"{kind}:{ref}")
            for sop, sha, kind, ref, _s, _e in _rows(db, target, pairs)
        ]


def places(db: DBSession, target: Project, wanted: Iterable[tuple[str, str]]) -> list[Place]:
    """The sessions of ``target`` that hold some of ``wanted`` with those bytes, each with
    how many; archived ones first. The caller has checked access to ``target``."""
    counts: dict[tuple[str, str, str | None, str | None], set[str]] = {}
    for sop, _sha, kind, ref, subject, session in _rows(db, target, list(dict.fromkeys(wanted))):
        counts.setdefault((kind, ref, subject, session), set()).add(sop)
    found = [Place(k, r, s, e, len(sops)) for (k, r, s, e), sops in counts.items()]
    return sorted(found, key=lambda p: (p.kind != ARCHIVE, p.ref))
