"""A dataset's owners: they change its draft, release, publish and withdraw it, and
decide access requests. An owner adds or removes others; a dataset keeps one at least."""

from __future__ import annotations

from sqlalchemy import func, not_, select, union
from sqlalchemy.orm import Session as DBSession

from scandepot.access.actors import Actor
from scandepot.access.datasets import DatasetAction, load_dataset
from scandepot.access.permissions import Level, permission_clause
from scandepot.access.users import actor_for
from scandepot.catalog.access import User
from scandepot.catalog.archive import Project, Session, Subject
from scandepot.catalog.datasets import (
    Dataset,
    DatasetFile,
    DatasetMember,
    DatasetOwner,
    DatasetVersion,
)
from scandepot.context import Context
from scandepot.datasets.lifecycle import record
from scandepot.datasets.views import DatasetView, dataset_view
from scandepot.errors import Conflict, NotFound


def _user(db: DBSession, login: str) -> User:
    user = db.scalar(select(User).where(User.login == login))
    if user is None or not user.enabled:
        raise NotFound(f"User '{login}' not found.", field="login")
    return user


def _reads_everything(db: DBSession, user: User, dataset: Dataset) -> None:
    """Refuse an owner who may not read every project the dataset's versions hold data
    of: owners see its members, manifests and files. The count alone is said."""
    versions = select(DatasetVersion.id).where(DatasetVersion.dataset_id == dataset.id)
    projects = union(
        select(Session.project_id)
        .join(DatasetMember, DatasetMember.session_id == Session.id)
        .where(DatasetMember.version_id.in_(versions)),
        select(Subject.project_id)
        .join(DatasetMember, DatasetMember.subject_id == Subject.id)
        .where(DatasetMember.version_id.in_(versions)),
        select(DatasetFile.project_id).where(DatasetFile.version_id.in_(versions)).distinct(),
    ).subquery()
    hidden = db.scalar(
        select(func.count(Project.id)).where(
            Project.id.in_(select(projects.c[0])),
            not_(permission_clause(actor_for(user), Level.READ)),
        )
    )
    if hidden:
        raise Conflict(
            f"'{user.login}' may not read {hidden} of the projects this dataset holds data "
            "of; owners see its members and files. They may ask for access to a published "
            "version instead.",
            field="login",
        )


def add(ctx: Context, actor: Actor, ref: str, login: str) -> DatasetView:
    with ctx.db.write() as db:
        dataset = load_dataset(db, actor, ref, DatasetAction.EDIT)
        user = _user(db, login)
        if db.get(DatasetOwner, (dataset.id, user.id)) is None:
            _reads_everything(db, user, dataset)
            db.add(DatasetOwner(dataset_id=dataset.id, user_id=user.id))
            db.flush()
            record(db, actor, dataset, None, "owners_changed", details={"added": login})
        return dataset_view(db, actor, dataset)


def remove(ctx: Context, actor: Actor, ref: str, login: str) -> DatasetView:
    with ctx.db.write() as db:
        dataset = load_dataset(db, actor, ref, DatasetAction.EDIT)
        user = _user(db, login)
        row = db.get(DatasetOwner, (dataset.id, user.id))
        if row is None:
            raise NotFound(f"'{login}' is not an owner of '{dataset.name}'.", field="login")
        owners = db.scalar(
            select(func.count())
            .select_from(DatasetOwner)
            .where(DatasetOwner.dataset_id == dataset.id)
        )
        if owners == 1:
            raise Conflict(
                f"'{login}' is the last owner of '{dataset.name}'; add another first.",
                field="login",
            )
        db.delete(row)
        db.flush()
        record(db, actor, dataset, None, "owners_changed", details={"removed": login})
        return dataset_view(db, actor, dataset)
