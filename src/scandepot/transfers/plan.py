"""The check made before a transfer writes anything: what would go where, and every
problem that stops it.

:func:`make` reads the catalog only. A plan with problems is shown and refused; a plan
without is what the transfer then carries out, item by item (the items are written
with the transfer, so a run resumed later goes by the same plan).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session as DBSession

from scandepot.access.actors import Actor
from scandepot.access.permissions import Action, Level, level_on, load_project
from scandepot.archive import holds
from scandepot.catalog.archive import (
    File,
    Project,
    Resource,
    Scan,
    Session,
    Subject,
    UploadDestination,
)
from scandepot.catalog.labels import by_label, same_label
from scandepot.catalog.prearchive import StagedSession
from scandepot.catalog.transfers import Share, ShareKind, TransferKind
from scandepot.errors import Invalid
from scandepot.transfers import deid_plan, labels
from scandepot.transfers.requests import Clash, Landing, TransferRequest

DICOM_RESOURCE = "DICOM"  # the scan's own files; every other resource is "a resource"


@dataclass
class Problem:
    # access, not_found, label, label_clash, uid_clash, scan_clash, subject, landing, deid
    code: str
    message: str
    session: str | None = None  # "subject/session" in the source, when it is about one


@dataclass
class PlannedScan:
    label: str
    type: str | None
    files: int
    bytes: int


@dataclass
class PlannedSession:
    source_subject: str
    source_session: str
    dest_subject: str
    dest_session: str
    action: str  # "create", "merge" or "skip"
    new_subject: bool
    scans: list[PlannedScan] = field(default_factory=list)
    resources: list[str] = field(default_factory=list)  # "session:QA", "scan 3:NIFTI", ...
    files: int = 0
    bytes: int = 0
    session_id: int = 0  # the source session's catalog ID

    @property
    def source(self) -> str:
        return f"{self.source_subject}/{self.source_session}"


@dataclass
class Plan:
    kind: str
    source: str
    destination: str
    landing: str
    on_clash: str
    sessions: list[PlannedSession] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    project_resources: list[str] = field(default_factory=list)
    files: int = 0
    bytes: int = 0
    deidentify: bool = False  # by the source's export script (deid_plan.py)

    @property
    def ok(self) -> bool:
        return not self.problems

    def problem(self, code: str, message: str, session: str | None = None) -> None:
        self.problems.append(Problem(code, message, session))

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        for planned in out["sessions"]:
            planned.pop("session_id", None)
        out["ok"] = self.ok
        return out


def make(db: DBSession, actor: Actor, request: TransferRequest) -> Plan:
    """The plan of ``request`` for ``actor``; raises only for what the caller may not
    know of (a project it may not see) or a request that names nothing."""
    source = load_project(db, actor, request.source, Action.SEE)
    dest = load_project(db, actor, request.destination, Action.SEE)
    landing = _landing(db, actor, dest, request)
    plan = Plan(
        request.kind.value,
        source.label,
        dest.label,
        landing.value,
        request.on_clash.value,
    )
    _access(db, actor, plan, source, dest, request.kind)
    if source.id == dest.id:
        plan.problem("same_project", "The source and the destination are the same project.")
    if landing is Landing.PREARCHIVE and request.landing is None:
        plan.warnings.append(
            f"Project '{dest.label}' de-identifies what is archived into it: the sessions "
            "wait in its prearchive, and its archive script runs as they are archived."
            if deid_plan.deidentifies_archive(db, dest)
            else f"Project '{dest.label}' sends what arrives to its prearchive: the sessions "
            "wait there for review (an owner of it may ask for the archive)."
        )
    if landing is Landing.PREARCHIVE and request.landing is Landing.ARCHIVE:
        plan.problem(
            "landing",
            f"Project '{dest.label}' de-identifies what is archived into it: sessions go "
            "through its prearchive, where its archive script runs as they are archived."
            if deid_plan.deidentifies_archive(db, dest)
            else f"Only an owner of '{dest.label}' may send sessions past its prearchive.",
        )
    found = _sessions(db, plan, source, request)
    for moved in found if request.kind is TransferKind.MOVE else ():
        doing = f"move session '{moved.label}'"
        if why := holds.held(db, actor, holds.of_session(moved.id), doing=doing):
            plan.problem("held", why, moved.label)
    if not found and not plan.problems:
        raise Invalid("Name at least one session or subject to transfer.", field="sessions")
    _map(db, plan, source, dest, request, found)
    _contents(db, plan, request, found)
    if landing is Landing.PREARCHIVE:
        _through_prearchive(db, plan, dest, request, found)
    merges = [(p.dest_session, p.source) for p in plan.sessions if p.action == "merge"]
    for problem in deid_plan.problems(db, source, dest.label, request, merges):
        plan.problem(*problem)
    plan.deidentify = request.deidentify
    if request.with_resources:
        key = f"project:{source.id}"
        plan.project_resources = _resource_labels(db, Resource.parent_key == key)
        files, size = _files_under(db, [key])
        plan.files, plan.bytes = plan.files + files, plan.bytes + size
    return plan


def _landing(db: DBSession, actor: Actor, dest: Project, request: TransferRequest) -> Landing:
    if deid_plan.deidentifies_archive(db, dest):
        return Landing.PREARCHIVE  # its archive script runs as they are archived from there
    if dest.upload_destination == UploadDestination.PREARCHIVE.value:
        if request.landing is Landing.ARCHIVE and level_on(db, actor, dest) >= Level.MANAGE:
            return Landing.ARCHIVE
        return Landing.PREARCHIVE
    return request.landing or Landing.ARCHIVE


def _through_prearchive(
    db: DBSession,
    plan: Plan,
    dest: Project,
    request: TransferRequest,
    found: Sequence[Session],
) -> None:
    """What the prearchive cannot take: resources, sessions that are no DICOM study, a
    study that waits there already."""
    if request.with_resources:
        plan.problem(
            "landing",
            f"Resources cannot go through the prearchive of '{dest.label}': leave them out, "
            "or (as an owner of it) send the sessions to its archive.",
        )
    by_id = {s.id: s for s in found}
    for planned in plan.sessions:
        session = by_id[planned.session_id]
        if planned.action == "skip":
            continue
        if not session.StudyInstanceUID:
            plan.problem(
                "landing",
                "Only a DICOM study can go through the prearchive; this session has no "
                "Study Instance UID.",
                planned.source,
            )
            continue
        waiting = db.scalar(
            select(StagedSession.id).where(
                StagedSession.project_key == dest.label,
                StagedSession.StudyInstanceUID == session.StudyInstanceUID,
            )
        )
        if waiting is not None:
            plan.problem(
                "landing",
                f"This study waits in the prearchive of '{dest.label}' already (staged "
                f"session {waiting}).",
                planned.source,
            )


def _access(
    db: DBSession, actor: Actor, plan: Plan, source: Project, dest: Project, kind: TransferKind
) -> None:
    need = Action.DELETE if kind is TransferKind.MOVE else Action.READ
    if level_on(db, actor, source) < need.level:
        what = "an owner of" if kind is TransferKind.MOVE else "able to read"
        plan.problem("access", f"To {kind.value} from '{source.label}' you must be {what} it.")
    if level_on(db, actor, dest) < Action.UPLOAD.level:
        plan.problem("access", f"To add sessions to '{dest.label}' you must be a member of it.")


def _sessions(
    db: DBSession, plan: Plan, source: Project, request: TransferRequest
) -> list[Session]:
    """The source sessions asked for, each once, in the order asked."""
    chosen: dict[int, Session] = {}
    in_source = select(Session).where(Session.project_id == source.id)
    for label in request.sessions:
        session = db.scalar(by_label(in_source, Session.label, label))
        if session is None:
            plan.problem("not_found", f"Session '{label}' not found in project '{source.label}'.")
        else:
            chosen.setdefault(session.id, session)
    for label in request.subjects:
        subject = db.scalar(
            by_label(select(Subject).where(Subject.project_id == source.id), Subject.label, label)
        )
        if subject is None:
            plan.problem("not_found", f"Subject '{label}' not found in project '{source.label}'.")
            continue
        for session in db.scalars(
            in_source.where(Session.subject_id == subject.id).order_by(Session.label)
        ):
            chosen.setdefault(session.id, session)
    return list(chosen.values())


def _map(
    db: DBSession,
    plan: Plan,
    source: Project,
    dest: Project,
    request: TransferRequest,
    found: Sequence[Session],
) -> None:
    """Each session's destination labels, and what the destination holds under them."""
    taken: dict[str, str] = {}
    for session in found:
        where = f"{session.subject.label}/{session.label}"
        try:
            subject_label = labels.subject_label(request, source.label, session.subject.label)
            session_label = labels.session_label(request, source.label, session, subject_label)
        except Invalid as exc:
            plan.problem("label", exc.message, where)
            continue
        earlier = taken.setdefault(session_label.lower(), where)
        if earlier != where:
            plan.problem(
                "label_clash",
                f"'{earlier}' and '{where}' would both be '{session_label}' in '{dest.label}'.",
                where,
            )
            continue
        planned = PlannedSession(
            session.subject.label,
            session.label,
            subject_label,
            session_label,
            "create",
            new_subject=False,
            session_id=session.id,
        )
        _against_destination(db, plan, dest, request, session, planned)
        plan.sessions.append(planned)


def _against_destination(
    db: DBSession,
    plan: Plan,
    dest: Project,
    request: TransferRequest,
    session: Session,
    planned: PlannedSession,
) -> None:
    where = planned.source
    subject = db.scalar(
        by_label(
            select(Subject).where(Subject.project_id == dest.id),
            Subject.label,
            planned.dest_subject,
        )
    )
    if subject is None:
        planned.new_subject = True
        if _shared_label(db, dest, ShareKind.SUBJECT, planned.dest_subject):
            plan.problem(
                "label_clash",
                f"Subject label '{planned.dest_subject}' is taken in '{dest.label}' by a subject "
                "shared into it.",
                where,
            )
        elif not dest.allow_subject_creation:
            plan.problem(
                "subject",
                f"Project '{dest.label}' does not allow new subjects, and has no subject "
                f"'{planned.dest_subject}'.",
                where,
            )
    there = db.scalar(
        by_label(
            select(Session).where(Session.project_id == dest.id),
            Session.label,
            planned.dest_session,
        )
    )
    if there is None:
        if _shared_label(db, dest, ShareKind.SESSION, planned.dest_session):
            plan.problem(
                "label_clash",
                f"Session label '{planned.dest_session}' is taken in '{dest.label}' by a session "
                "shared into it.",
                where,
            )
        return
    clash = f"Session '{planned.dest_session}' exists in '{dest.label}' already."
    if request.on_clash is Clash.SKIP:
        planned.action = "skip"
        plan.warnings.append(f"{where}: {clash} Skipped.")
    elif request.on_clash is Clash.STOP:
        plan.problem(
            "label_clash", f"{clash} Choose merge or skip, or map it to a new label.", where
        )
    else:
        planned.action = "merge"
        _merge_checks(plan, session, there, planned)


def _merge_checks(plan: Plan, session: Session, there: Session, planned: PlannedSession) -> None:
    where = planned.source
    if not same_subject(there, planned.dest_subject):
        plan.problem(
            "label_clash",
            f"Session '{there.label}' of '{there.project.label}' belongs to subject "
            f"'{there.subject.label}', not '{planned.dest_subject}'.",
            where,
        )
    if (
        there.StudyInstanceUID
        and session.StudyInstanceUID
        and there.StudyInstanceUID != session.StudyInstanceUID
    ):
        plan.problem(
            "uid_clash",
            f"Invalid modification of session UID: session '{there.label}' of "
            f"'{there.project.label}' is study {there.StudyInstanceUID}, '{where}' is study "
            f"{session.StudyInstanceUID}; a merge would make one session of two studies.",
            where,
        )


def same_subject(session: Session, label: str) -> bool:
    return session.subject.label.lower() == label.lower()


def _shared_label(db: DBSession, dest: Project, kind: ShareKind, label: str) -> bool:
    stmt = select(Share.id).where(
        Share.project_id == dest.id, Share.kind == kind.value, same_label(Share.label, label)
    )
    return db.scalar(stmt.limit(1)) is not None


def scan_chosen(scan: Scan, patterns: Sequence[str]) -> bool:
    """Whether ``scan`` is one of ``patterns``: its ID (a number), or a shell pattern
    on its type, ignoring case."""
    if not patterns:
        return True
    kind = (scan.type or "").lower()
    return any(
        scan.label == p if p.isdigit() else fnmatch.fnmatchcase(kind, p.lower()) for p in patterns
    )


def _contents(
    db: DBSession, plan: Plan, request: TransferRequest, found: Sequence[Session]
) -> None:
    """Scans, resources and file counts of each planned session, and the scan clashes of
    a merge."""
    by_id = {s.id: s for s in found}
    subjects: set[str] = set()  # new subjects whose resources are counted already
    for planned in plan.sessions:
        if planned.action == "skip":
            continue
        session = by_id[planned.session_id]
        first = planned.new_subject and planned.dest_subject.lower() not in subjects
        subjects.add(planned.dest_subject.lower())
        scans = [
            s
            for s in db.scalars(select(Scan).where(Scan.session_id == session.id))
            if scan_chosen(s, request.scans)
        ]
        if not scans:
            plan.warnings.append(f"{planned.source}: no scan is chosen.")
        sizes = _sizes(db, [s.id for s in scans], request.with_resources)
        for scan in sorted(scans, key=_scan_order):
            files, size = sizes.get(scan.id, (0, 0))
            planned.scans.append(PlannedScan(scan.label, scan.type, files, size))
            planned.files, planned.bytes = planned.files + files, planned.bytes + size
        if request.with_resources:
            planned.resources = _session_resources(db, session, scans)
            extra = _resource_sizes(db, session, first)
            planned.files, planned.bytes = planned.files + extra[0], planned.bytes + extra[1]
        if planned.action == "merge":
            _scan_clashes(db, plan, planned, [s.label for s in scans])
        plan.files, plan.bytes = plan.files + planned.files, plan.bytes + planned.bytes


def _scan_order(scan: Scan) -> tuple[int, str]:
    return (int(scan.label) if scan.label.isdigit() else 1 << 30, scan.label)


def _sizes(db: DBSession, scan_ids: list[int], with_resources: bool) -> dict[int, tuple[int, int]]:
    """Files and bytes per scan: its DICOM, and its other resources when asked."""
    if not scan_ids:
        return {}
    stmt = (
        select(Resource.scan_id, func.count(File.id), func.coalesce(func.sum(File.size), 0))
        .join(File, File.resource_id == Resource.id)
        .where(Resource.scan_id.in_(scan_ids))
        .group_by(Resource.scan_id)
    )
    if not with_resources:
        stmt = stmt.where(Resource.label == DICOM_RESOURCE)
    return {int(r[0] or 0): (int(r[1]), int(r[2])) for r in db.execute(stmt)}


def _session_resources(db: DBSession, session: Session, scans: Sequence[Scan]) -> list[str]:
    names = [
        f"session:{label}"
        for label in _resource_labels(db, Resource.parent_key == f"session:{session.id}")
    ]
    for scan in scans:
        for label in _resource_labels(db, Resource.parent_key == f"scan:{scan.id}"):
            if label != DICOM_RESOURCE:
                names.append(f"scan {scan.label}:{label}")
    return names


def _resource_labels(db: DBSession, where: Any) -> list[str]:
    return list(db.scalars(select(Resource.label).where(where).order_by(Resource.label)))


def _resource_sizes(db: DBSession, session: Session, with_subject: bool) -> tuple[int, int]:
    keys = [f"session:{session.id}"] + ([f"subject:{session.subject_id}"] if with_subject else [])
    return _files_under(db, keys)


def _files_under(db: DBSession, keys: list[str]) -> tuple[int, int]:
    """Files and bytes in the resources of these parent keys."""
    row = db.execute(
        select(func.count(File.id), func.coalesce(func.sum(File.size), 0))
        .join(Resource, File.resource_id == Resource.id)
        .where(Resource.parent_key.in_(keys))
    ).one()
    return int(row[0]), int(row[1])


def _scan_clashes(db: DBSession, plan: Plan, planned: PlannedSession, labels_in: list[str]) -> None:
    there = db.scalars(
        select(Scan.label)
        .join(Session, Scan.session_id == Session.id)
        .join(Project, Session.project_id == Project.id)
        .where(Project.label == plan.destination, same_label(Session.label, planned.dest_session))
    ).all()
    clashes = sorted(set(there) & set(labels_in), key=lambda x: (len(x), x))
    if clashes:
        plan.problem(
            "scan_clash",
            f"Session '{planned.dest_session}' of '{plan.destination}' has scans "
            f"{', '.join(clashes)} already; leave them out (--scans) or map to a new session.",
            planned.source,
        )
