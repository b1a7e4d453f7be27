"""Adding, listing and removing DICOM nodes (site administrators only), and what the
DICOM side asks of them: where a C-MOVE destination is, and whose view of the archive a
calling AE title queries and retrieves in."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session as DBSession

from scandepot.access import audit
from scandepot.access.actors import ANONYMOUS, Actor
from scandepot.access.audit import AuditAction
from scandepot.access.permissions import Action, require_site_admin
from scandepot.access.users import actor_for
from scandepot.catalog.access import User
from scandepot.catalog.archive import Project
from scandepot.catalog.dicom_nodes import AE_TITLE_LENGTH, DicomNode
from scandepot.context import Context
from scandepot.errors import Conflict, Invalid, NotFound, ScandepotError
from scandepot.query.scope import Scope, open_scope

# PS3.5 6.2: AE, 16 characters of the default repertoire, no backslash, no control
# characters; leading and trailing spaces are not significant.
_AE_TITLE = re.compile(r"[\x20-\x5b\x5d-\x7e]{1,16}")

UNMAPPED_PUBLIC = "public"  # an unknown calling AE queries what anonymous visitors see
UNMAPPED_REFUSE = "refuse"  # an unknown calling AE may not query or retrieve at all


class NodeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ae_title: str
    host: str | None = Field(default=None, max_length=255)
    port: int | None = Field(default=None, ge=1, le=65535)
    login: str | None = None  # the account whose rights the calling AE title has
    project: str | None = None  # the project it is limited to
    description: str = Field(default="", max_length=255)


@dataclass(frozen=True)
class NodeView:
    ae_title: str
    host: str | None
    port: int | None
    login: str | None
    project: str | None
    description: str


@dataclass(frozen=True)
class Destination:
    ae_title: str
    host: str
    port: int


def check_ae_title(value: str, field: str = "ae_title") -> str:
    title = value.strip()
    if not _AE_TITLE.fullmatch(title) or len(title) > AE_TITLE_LENGTH:
        raise Invalid(
            f"{field} must be 1 to {AE_TITLE_LENGTH} printable ASCII characters, no backslash.",
            field=field,
        )
    return title


def add(ctx: Context, actor: Actor, data: NodeCreate) -> NodeView:
    """Set up a node; its AE title must be new."""
    require_site_admin(actor)
    title = check_ae_title(data.ae_title)
    if (data.host is None) != (data.port is None):
        raise Invalid("host and port go together: give both, or neither.", field="host")
    if data.host is not None and not data.host.strip():
        raise Invalid("host must not be empty.", field="host")
    with ctx.db.write() as db:
        if db.scalar(select(DicomNode.id).where(DicomNode.ae_title == title)) is not None:
            raise Conflict(f"DICOM node '{title}' exists already.", field="ae_title")
        node = DicomNode(
            ae_title=title,
            host=data.host.strip() if data.host else None,
            port=data.port,
            user_id=_user_id(db, data.login),
            project_id=_project_id(db, data.project),
            description=data.description,
        )
        db.add(node)
        db.flush()
        view = _view(db, node)
        audit.record(
            db,
            actor,
            AuditAction.DICOM_NODE_ADDED,
            project=view.project,
            target=title,
            host=view.host,
            port=view.port,
            account=view.login,
        )
        return view


def list_nodes(ctx: Context, actor: Actor) -> list[NodeView]:
    require_site_admin(actor)
    with ctx.db.read() as db:
        nodes = db.scalars(select(DicomNode).order_by(DicomNode.ae_title)).all()
        return [_view(db, node) for node in nodes]


def remove(ctx: Context, actor: Actor, ae_title: str) -> None:
    require_site_admin(actor)
    title = ae_title.strip()
    with ctx.db.write() as db:
        node = db.scalar(select(DicomNode).where(DicomNode.ae_title == title))
        if node is None:
            raise NotFound(f"DICOM node '{title}' not found.", field="ae_title")
        db.delete(node)
        audit.record(db, actor, AuditAction.DICOM_NODE_REMOVED, target=title)


def destination(ctx: Context, ae_title: str) -> Destination | None:
    """Where the C-MOVE destination ``ae_title`` listens; None for an unknown one."""
    with ctx.db.read() as db:
        node = db.scalar(select(DicomNode).where(DicomNode.ae_title == ae_title.strip()))
    if node is None or node.host is None or node.port is None:
        return None
    return Destination(node.ae_title, node.host, node.port)


def peer_scope(ctx: Context, calling_ae: str, address: str, unmapped: str) -> Scope | None:
    """The view of the archive a peer calling as ``calling_ae`` queries and retrieves in,
    or None when it may not (an unknown title with ``unmapped`` "refuse", a disabled
    account, an account that may no longer read the node's project)."""
    with ctx.db.read() as db:
        node = db.scalar(select(DicomNode).where(DicomNode.ae_title == calling_ae.strip()))
        if node is None or (node.user_id is None and node.project_id is None):
            return Scope(ANONYMOUS.at(address)) if unmapped == UNMAPPED_PUBLIC else None
        project = db.get(Project, node.project_id) if node.project_id is not None else None
        if node.user_id is None:
            assert project is not None
            return Scope(_node_actor(node, address), project.id, project.label)
        user = db.get(User, node.user_id)
        if user is None or not user.enabled:
            return None
        actor = actor_for(user, address=address, via="dicom")
        try:
            return open_scope(db, actor, project.label if project else None, Action.READ)
        except ScandepotError:
            return None


def _node_actor(node: DicomNode, address: str) -> Actor:
    """A node mapped to a project alone reads that project, whatever its accessibility:
    the administrator who mapped it granted that (the scope holds it to the project)."""
    return Actor(
        user_id=None,
        login=f"dicom:{node.ae_title}",
        is_site_admin=True,
        is_system=True,
        address=address,
        via="dicom",
    )


def _user_id(db: DBSession, login: str | None) -> int | None:
    if login is None:
        return None
    found = db.scalar(select(User.id).where(User.login == login))
    if found is None:
        raise NotFound(f"User '{login}' not found.", field="login")
    return found


def _project_id(db: DBSession, label: str | None) -> int | None:
    if label is None:
        return None
    found = db.scalar(select(Project.id).where(Project.label == label))
    if found is None:
        raise NotFound(f"Project '{label}' not found.", field="project")
    return found


def _view(db: DBSession, node: DicomNode) -> NodeView:
    user = db.get(User, node.user_id) if node.user_id is not None else None
    project = db.get(Project, node.project_id) if node.project_id is not None else None
    return NodeView(
        node.ae_title,
        node.host,
        node.port,
        user.login if user else None,
        project.label if project else None,
        node.description,
    )
