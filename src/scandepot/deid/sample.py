"""A script tried on one sample instance, for the Manage tab, the API and the CLI: what
each attribute held before and after, and the verification's report. Nothing is stored.

The script is a saved version (the newest for a purpose, or a given one) or a text not
saved yet (the editor's). The sample is an uploaded file or an archived instance of the
project (a session's first, or one named by its SOP Instance UID). The project's keys and
pseudonym table are used as they stand, so the pseudonyms shown are those a real run
gives; a project with no key yet (no script saved) gets one for this test alone.
"""

from __future__ import annotations

import copy
import secrets
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from sqlalchemy import select
from sqlalchemy.orm import Session as DBSession

from scandepot.access.actors import Actor
from scandepot.access.permissions import Action
from scandepot.archive import layout, projects, sessions
from scandepot.catalog.archive import File, Resource, Scan
from scandepot.catalog.deid import DeidScript, Pseudonym
from scandepot.catalog.prearchive import Instance
from scandepot.context import Context
from scandepot.deid import diff, engine, in_force, manage, scripts, verify
from scandepot.deid.model import Keys, Refused, Run, Script
from scandepot.errors import Invalid, NotFound

MAX_SAMPLE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Saved:
    """A saved version: the newest for ``purpose``, or ``version``."""

    purpose: str
    version: int | None = None


@dataclass(frozen=True, slots=True)
class Given:
    """A script not saved (yet)."""

    kind: str
    text: str
    pixel_text: str = ""


@dataclass(frozen=True, slots=True)
class Upload:
    name: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Archived:
    session: str
    instance: str | None = None  # (0008,0018) SOP Instance UID; None: the session's first


@dataclass(frozen=True, slots=True)
class Outcome:
    script: str  # "archive v3 sha256:…", or "not saved"
    sample: str  # the file's name, or "session E1, instance 1.2.3"
    status: str  # "passed", "not_deidentified", "refused"
    message: str  # the refusal or the verification's words; "" when passed
    rows: list[diff.Row] = field(default_factory=list)
    report: verify.Report = field(default_factory=verify.Report)

    @property
    def passed(self) -> bool:
        return self.status == "passed"


def _script(db: DBSession, project_id: int, chosen: Saved | Given) -> tuple[Script, str]:
    if isinstance(chosen, Given):
        manage.check(chosen.kind, chosen.text, chosen.pixel_text)
        return scripts.load(chosen.kind, chosen.text, chosen.pixel_text), "not saved"
    purpose = manage.purpose_of(chosen.purpose)
    stmt = select(DeidScript).where(
        DeidScript.project_id == project_id, DeidScript.purpose == purpose
    )
    if chosen.version is not None:
        stmt = stmt.where(DeidScript.version == chosen.version)
    row = db.scalar(stmt.order_by(DeidScript.version.desc()).limit(1))
    if row is None:
        which = f" version {chosen.version}" if chosen.version is not None else ""
        raise NotFound(f"No {purpose.value} script{which} is saved.", field="purpose")
    label = f"{row.purpose} v{row.version} sha256:{row.sha256[:12]}"
    return scripts.load(row.kind, row.text, row.pixel_text), label


def _keys(db: DBSession, project_id: int) -> Keys:
    """The project's keys as they stand; a key for this test alone when it has none."""
    try:
        return in_force.keys_of(db, project_id, create=False)
    except LookupError:
        rows = db.execute(
            select(Pseudonym.kind, Pseudonym.original, Pseudonym.pseudonym).where(
                Pseudonym.project_id == project_id
            )
        ).all()
        return Keys(secrets.token_bytes(32), {(k, o): p for k, o, p in rows})


def _archived_path(
    ctx: Context, db: DBSession, actor: Actor, project: str, sample: Archived
) -> tuple[Path, str, dict[str, str]]:
    """The file of the archived instance, how to name it, and the run's labels."""
    session = sessions.load(db, actor, project, sample.session, Action.READ)
    stmt = (
        select(Instance.SOPInstanceUID, File.path, Resource.label, Scan.label)
        .join(File, File.id == Instance.file_id)
        .join(Resource, Resource.id == File.resource_id)
        .join(Scan, Scan.id == Instance.scan_id)
        .where(Scan.session_id == session.id)
    )
    if sample.instance is not None:
        stmt = stmt.where(Instance.SOPInstanceUID == sample.instance.strip())
    row = db.execute(
        stmt.order_by(Scan.label, Instance.InstanceNumber, Instance.SOPInstanceUID).limit(1)
    ).first()
    if row is None:
        what = f"instance '{sample.instance}'" if sample.instance else "no archived DICOM"
        raise NotFound(f"Session '{sample.session}' has {what}.", field="instance")
    home = session
    owner = layout.owner_dir(home.project.label, home.subject.label, home.label, row[3])
    path = ctx.archive_path(layout.resource_files_dir(owner, row[2])) / row[1]
    labels = {"PROJECT": project, "SUBJECT": home.subject.label, "SESSION": home.label}
    return path, f"session {sample.session}, instance {row[0]}", labels


def _read_upload(sample: Upload) -> Dataset:
    if len(sample.data) > MAX_SAMPLE_BYTES:
        raise Invalid(
            f"{sample.name} is over {MAX_SAMPLE_BYTES // (1024 * 1024)} MiB.", field="file"
        )
    try:
        return dcmread(BytesIO(sample.data), force=False)
    except (InvalidDicomError, EOFError, ValueError, OSError) as exc:
        raise Invalid(f"{sample.name}: not a DICOM file ({exc}).", field="file") from exc


def run(
    ctx: Context,
    actor: Actor,
    project: str,
    script: Saved | Given | None,
    sample: Upload | Archived | None,
) -> Outcome:
    """``script`` applied to ``sample`` in memory and verified; nothing is stored. None
    for either: :class:`Invalid`, once the caller is known to manage the project."""
    path: Path | None = None
    with ctx.db.read() as db:
        proj = projects.load(db, actor, project, Action.CONFIGURE)
        if script is None:
            raise Invalid("Give a script's text, or the purpose of a saved one.", field="purpose")
        if sample is None:
            raise Invalid("Choose a DICOM file, or name an archived session.", field="file")
        loaded, label = _script(db, proj.id, script)
        keys = _keys(db, proj.id)
        params = {"PROJECT": proj.label}
        if isinstance(sample, Archived):
            path, name, params = _archived_path(ctx, db, actor, proj.label, sample)
    if path is not None:
        ds = engine.read(path)
    else:
        assert isinstance(sample, Upload)
        ds, name = _read_upload(sample), sample.name
    return _apply(loaded, Run(keys, params), ds, label, name)


def _apply(script: Script, run: Run, ds: Dataset, label: str, name: str) -> Outcome:
    before = copy.deepcopy(ds)
    try:
        result = engine.deidentify(script, run, ds, source=name)
    except verify.NotDeidentified as exc:
        rows = diff.rows(before, ds)
        return Outcome(label, name, "not_deidentified", exc.message, rows, exc.report)
    except Refused as exc:
        return Outcome(label, name, "refused", exc.message, diff.rows(before, ds))
    return Outcome(label, name, "passed", "", diff.rows(before, result.dataset), result.report)
