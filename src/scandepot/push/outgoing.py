"""The instances a push still has to send, read from the archive and made ready to leave.

:func:`pending` reads the push's pending instances with where their files are;
:func:`make` reads one file and runs it through the push's script (the same
:class:`~scandepot.export.deidentified.Deidentifier` downloads and transfers run, with
the project's keys): an :class:`~scandepot.push.sending.Outgoing`, or why the script
refused it. The stored file is never changed.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from pydicom import Dataset
from sqlalchemy import select

from scandepot.archive.layout import owner_dir, resource_files_dir
from scandepot.catalog.archive import File, Project, Resource, Scan, Session, Subject
from scandepot.catalog.prearchive import Instance
from scandepot.catalog.push import InstanceStatus, PushInstance
from scandepot.context import Context
from scandepot.export.deidentified import Deidentifier, InstanceRefused, Refusal
from scandepot.push.sending import Outgoing

log = logging.getLogger("scandepot.push")


@dataclass(frozen=True, slots=True)
class Pending:
    """One instance still to send: its row, its stored file and what the catalog knows."""

    row_id: int
    attempts: int
    sop_uid: str  # as it leaves, once known ("" before the first de-identification)
    path: Path
    source_study: str  # (0020,000D) as stored: instances are batched by it
    study_uid: str  # the rest as stored: what is sent when there is no script
    series_uid: str
    source_sop: str
    sop_class_uid: str
    transfer_syntax: str
    subject: str  # the labels in the archive
    session: str
    scan: str


def pending(ctx: Context, push_id: int) -> list[Pending]:
    """The push's pending instances, by study, then as they were recorded."""
    with ctx.db.read() as db:
        rows = db.execute(
            select(PushInstance, Instance, File.path, Resource.label, Scan.label)
            .add_columns(Session.label, Subject.label, Project.label)
            .join(Instance, PushInstance.instance_id == Instance.id)
            .join(File, Instance.file_id == File.id)
            .join(Resource, File.resource_id == Resource.id)
            .join(Scan, Instance.scan_id == Scan.id)
            .join(Session, Scan.session_id == Session.id)
            .join(Subject, Session.subject_id == Subject.id)
            .join(Project, Session.project_id == Project.id)
            .where(
                PushInstance.push_id == push_id,
                PushInstance.status == InstanceStatus.PENDING.value,
            )
            .order_by(Instance.StudyInstanceUID, PushInstance.id)
        ).all()
    out = []
    for row, inst, path, resource, scan, session, subject, project in rows:
        folder = resource_files_dir(owner_dir(project, subject, session, scan), resource)
        out.append(
            Pending(
                row.id,
                row.attempts,
                row.sop_uid,
                ctx.archive_path(folder) / path,
                inst.StudyInstanceUID,
                inst.StudyInstanceUID,
                inst.SeriesInstanceUID,
                inst.SOPInstanceUID,
                inst.SOPClassUID,
                inst.TransferSyntaxUID,
                subject,
                session,
                scan,
            )
        )
    return out


def gone(ctx: Context, push_id: int) -> list[int]:
    """Pending rows whose instance was deleted from the archive since the push began."""
    with ctx.db.read() as db:
        return list(
            db.scalars(
                select(PushInstance.id).where(
                    PushInstance.push_id == push_id,
                    PushInstance.status == InstanceStatus.PENDING.value,
                    PushInstance.instance_id.is_(None),
                )
            )
        )


_NOT_IN_LABEL = re.compile(r"[^A-Za-z0-9_-]")


def xnat_label(patient_id: str) -> str:
    """The far subject's label for a de-identified Patient ID: XNAT labels are letters,
    digits, ``_`` and ``-`` (and a ``/`` in a URL path is refused by its server), so
    anything else becomes ``_``; at most 64 characters."""
    return _NOT_IN_LABEL.sub("_", patient_id.strip())[:64] or "subject"


def _labels(ds: Dataset, study_uid: str) -> tuple[str, str]:
    """The subject and session an XNAT destination files a de-identified instance under:
    the Patient ID the script left (as a label: :func:`xnat_label`), and a session named by
    it and the new study UID (nothing of the original goes into either)."""
    subject = xnat_label(str(ds.get("PatientID", "") or ""))
    tail = hashlib.sha256(study_uid.encode()).hexdigest()[:8]
    return subject, f"{subject}_{tail}"


def make(deid: Deidentifier | None, item: Pending) -> Outgoing | Refusal:
    """``item`` read and de-identified, ready to send; the refusal when it may not go."""
    try:
        raw = item.path.read_bytes()
    except OSError as exc:
        return Refusal("unreadable", f"The stored file cannot be read: {exc.strerror}")
    if deid is None:
        return Outgoing(
            item.study_uid,
            item.series_uid,
            item.source_sop,
            item.sop_class_uid,
            item.transfer_syntax,
            raw,
            item.subject,
            item.session,
        )
    try:
        done = deid.run(raw, subject=item.subject, session=item.session)
    except InstanceRefused as exc:
        return exc.refusal
    except Exception as exc:  # noqa: BLE001 - the engine's failure fails this instance only
        # Named by its kind, not its text, which may quote the element values it met.
        log.warning("push: de-identifying %s failed", item.path, exc_info=True)
        return Refusal("unreadable", f"De-identification failed ({type(exc).__name__}).")
    ds = done.dataset
    study = str(ds.get("StudyInstanceUID", "")).strip()
    subject, session = _labels(ds, study)
    return Outgoing(
        study,
        str(ds.get("SeriesInstanceUID", "")).strip(),
        done.SOPInstanceUID,
        str(ds.get("SOPClassUID", "")).strip(),
        str(ds.file_meta.TransferSyntaxUID),
        done.data,
        subject,
        session,
    )
