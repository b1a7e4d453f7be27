"""Step 2 of an import (:mod:`scandepot.ingest.upload`): the project's rules, checked
against what the upload holds before anything is received, so that a refused upload
changes nothing."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session as DBSession

from scandepot.access.actors import Actor
from scandepot.catalog.archive import Project, Session, Subject
from scandepot.catalog.labels import LABEL_RULE, find_labelled
from scandepot.catalog.prearchive import StagedSession
from scandepot.dicom.headers import Header
from scandepot.dicom.routing import clean
from scandepot.errors import Conflict, Invalid
from scandepot.ingest import held as held_
from scandepot.ingest.modes import Destination, Options, Overwrite
from scandepot.ingest.receive import Source, route_for
from scandepot.prearchive import builder
from scandepot.storage.store import StagedFile


@dataclass(frozen=True, slots=True)
class Member:
    """A DICOM file of an upload, staged and hashed, before it is filed."""

    name: str
    staged: StagedFile
    StudyInstanceUID: str
    SOPInstanceUID: str
    # Kept for the first file of each study only (its routing is checked before anything
    # is received); the others are read again when filed, so that memory does not grow
    # with the number of files by more than a few hundred bytes each.
    header: Header | None


@dataclass(frozen=True, slots=True)
class _Refusal:
    reason: str
    clash: bool  # what the project holds is in the way (409), not a rule of the input (400)


@dataclass
class _Upload:
    """What every study of one upload is checked against."""

    db: DBSession
    target: Project
    options: Options
    destination: Destination
    source: Source
    # The archived sessions the studies checked so far become: (subject, session) -> study.
    becomes: dict[tuple[str, str], str]

    @property
    def archiving(self) -> bool:
        return self.destination == Destination.ARCHIVE


def check(
    db: DBSession,
    actor: Actor,
    project: str,
    options: Options,
    destination: Destination,
    studies: dict[str, list[Member]],
    source: Source,
) -> list[held_.Place]:
    """Step 2: the project's rules, before anything is received. Returns where the files
    held already are.

    An upload never moves, relabels or removes a session it did not make: a study staged
    already under other labels than those asked for, or held in full under other labels,
    is refused with the place named; two studies that would become one archived session
    are refused before either is archived (all or none)."""
    target = db.scalar(select(Project).where(Project.label == project))
    assert target is not None
    _check_study_count(target, options, len(studies))
    upload = _Upload(db, target, options, destination, source, becomes={})
    refused: list[tuple[str, _Refusal]] = []
    found: list[held_.Place] = []
    for study_uid, study_items in studies.items():
        places = _held_places(db, target, study_items)
        found += places
        refused += [(study_uid, r) for r in _refusals(upload, study_uid, study_items, places)]
    if refused:
        # What the project holds is in the way (409); otherwise the input breaks a rule.
        error = Conflict if any(r.clash for _, r in refused) else Invalid
        raise error(
            f"{refused[0][1].reason} Nothing was imported.",
            field="body",
            details=[{"name": study, "reason": r.reason} for study, r in refused],
        )
    return found


def _check_study_count(target: Project, options: Options, count: int) -> None:
    if count > 1 and not target.bulk_upload_allowed:
        raise Invalid(
            f"The upload holds {count} studies and project '{target.label}' takes one "
            "session per upload (bulk uploads are not allowed).",
            field="body",
        )
    if count > 1 and options.session is not None:
        raise Invalid(
            f"A session label was given but the upload holds {count} studies; "
            "upload them one at a time, or let the labels come from the DICOM headers.",
            field="session",
        )


def _refusals(
    upload: _Upload, study_uid: str, items: list[Member], places: list[held_.Place]
) -> list[_Refusal]:
    """Why one study of the upload cannot go where it is sent (none when it can)."""
    first = items[0].header
    assert first is not None
    routed = route_for(first, upload.source)
    subject, session = clean(routed.subject), clean(routed.session)
    held_in_full = sum(p.files for p in places) >= len(items)
    if upload.archiving and session is not None and not held_in_full:
        archived = find_labelled(upload.db, Session, upload.target.id, session)
        besides = archived.id if archived is not None else -1
        elsewhere = builder.archived_as(upload.db, upload.target, study_uid, besides=besides)
        if elsewhere is not None:
            return [_Refusal(f"{elsewhere}, or send it to the prearchive.", clash=True)]
    refusal = _elsewhere(upload, study_uid, items, places)
    if refusal is not None:
        return [_Refusal(refusal, clash=True)]
    if upload.archiving and subject and session:
        key = (subject.lower(), session.lower())
        if key in upload.becomes:
            why = (
                f"Studies {upload.becomes[key]} and {study_uid} would both become session "
                f"'{session}' of subject '{subject}'; upload them one at a time with "
                "their own session labels."
            )
            return [_Refusal(why, clash=True)]
        upload.becomes[key] = study_uid
    if upload.archiving and (subject is None or session is None):
        why = (
            "No subject or session label could be derived from the headers; "
            f"give them ({LABEL_RULE})."
        )
        return [_Refusal(why, clash=False)]
    if subject is None:
        return []
    return _label_refusals(upload, subject, session, held_in_full)


def _label_refusals(
    upload: _Upload, subject: str, session: str | None, held_in_full: bool
) -> list[_Refusal]:
    """What the project's labels say against a study going to ``subject/session``."""
    found: list[_Refusal] = []
    target = upload.target
    subject_known = find_labelled(upload.db, Subject, target.id, subject) is not None
    if not subject_known and not target.allow_subject_creation:
        why = (
            f"Subject '{subject}' does not exist and project '{target.label}' "
            "does not allow creating subjects."
        )
        found.append(_Refusal(why, clash=False))
    if (
        upload.archiving
        and upload.options.overwrite == Overwrite.NONE
        and not held_in_full  # nothing would be added: the answer says where it is
        and session is not None
        and find_labelled(upload.db, Session, target.id, session) is not None
    ):
        why = (
            f"Session '{session}' exists already; upload with overwrite=append to add "
            "to it or overwrite=delete to replace it."
        )
        found.append(_Refusal(why, clash=True))
    return found


def _held_places(db: DBSession, target: Project, items: list[Member]) -> list[held_.Place]:
    pairs = []
    for item in items:
        assert item.staged.digest is not None  # parked: sealed and hashed
        pairs.append((item.SOPInstanceUID, item.staged.digest.sha256))
    return held_.places(db, target, pairs)


def _differs(options: Options, subject: str | None, session: str | None) -> bool:
    """Whether the labels asked for name another subject or session than these."""

    def other(asked: str | None, there: str | None) -> bool:
        return asked is not None and (there is None or asked.lower() != there.lower())

    return other(options.subject, subject) or other(options.session, session)


def _elsewhere(
    upload: _Upload, study_uid: str, items: list[Member], places: list[held_.Place]
) -> str | None:
    """Why the study cannot go where the upload asks without changing a session the upload
    did not make; None when it can."""
    db, target, options = upload.db, upload.target, upload.options
    staged = db.execute(
        select(
            StagedSession.id,
            StagedSession.subject,
            StagedSession.session,
            StagedSession.source,
        ).where(
            StagedSession.project_key == target.label,
            StagedSession.StudyInstanceUID == study_uid,
        )
    ).first()
    if staged is not None:
        there = held_.Place(held_.PREARCHIVE, str(staged.id), staged.subject, staged.session, 0)
        if _differs(options, staged.subject, staged.session):
            return (
                f"Study {study_uid} is staged already in {there.described}; an upload does "
                "not relabel a staged session. Archive, relabel or delete that one first, or "
                "upload without labels to add to it."
            )
        if upload.archiving and staged.source != upload.source.label:
            return (
                f"Study {study_uid} is staged already in {there.described}, sent by "
                f"{staged.source or 'another sender'}; an upload does not archive a staged "
                "session it did not make. Archive that one from the prearchive, or upload to "
                "the prearchive to add to it."
            )
    if sum(p.files for p in places) < len(items):
        return None
    moved = [p for p in places if _differs(options, p.subject, p.session)]
    if not moved:
        return None
    return (
        f"All {len(items)} files of study {study_uid} are held already, in "
        f"{', '.join(p.described for p in moved)}; an upload does not copy or move data the "
        "project holds. Nothing needs sending to keep them there; a copy under new labels "
        "is a transfer between sessions, not an upload."
    )
