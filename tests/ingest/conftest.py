"""The drop world of the tests below the SFTP protocol: a project with a session, and a
signed-in drop account of it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest

from scandepot.access.actors import SYSTEM
from scandepot.archive import sessions, subjects
from scandepot.archive.sessions import SessionCreate
from scandepot.archive.subjects import SubjectCreate
from scandepot.context import Context
from scandepot.ingest import drop_accounts, sftp_signin
from scandepot.ingest.drop_accounts import DropAccountCreate
from scandepot.ingest.sftp_signin import DropPrincipal

DROP_PASSWORD = "drop-password-1"


@pytest.fixture
def project(ctx: Context, make_project: Callable[..., str]) -> str:
    label = make_project()
    subjects.create(ctx, SYSTEM, label, SubjectCreate(label="SUB1"))
    when = {"date": dt.date(2026, 12, 6), "time": dt.time(10, 0)}
    sessions.create(ctx, SYSTEM, label, SessionCreate(label="MR1", subject="SUB1", **when))
    return label


@pytest.fixture
def who(ctx: Context, project: str) -> DropPrincipal:
    data = DropAccountCreate(name="scanner", password=DROP_PASSWORD)
    drop_accounts.create(ctx, SYSTEM, project, data)
    found = sftp_signin.by_password(ctx, f"{project}+scanner", DROP_PASSWORD, address="10.9.8.7")
    assert isinstance(found, DropPrincipal)
    return found
