"""Web servers started at once on a new PostgreSQL catalog: one of them creates the site
admin account, the others find it made and start all the same."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from scandepot.access.users import ensure_admin
from scandepot.catalog.access import User
from scandepot.context import Context
from scandepot.errors import Conflict


@pytest.mark.parametrize("backend", ["postgresql"])
def test_servers_starting_at_once_make_one_admin(ctx: Context) -> None:
    settings = ctx.settings.model_copy(update={"admin_password": None})  # generated
    servers = [Context.from_settings(settings) for _ in range(3)]  # connections of their own
    start = threading.Barrier(len(servers))

    def first_start(server: Context) -> str | None:
        start.wait()
        return ensure_admin(server)

    try:
        with ThreadPoolExecutor(len(servers)) as pool:
            shown = list(pool.map(first_start, servers))
    finally:
        for server in servers:
            server.close()
    assert len([p for p in shown if p is not None]) == 1  # the password shown once
    with ctx.db.read() as db:
        assert db.scalars(select(User.login).where(User.is_site_admin.is_(True))).all() == ["admin"]


def test_a_login_admin_that_is_no_site_admin_is_said(ctx: Context) -> None:
    with ctx.db.write() as db:
        db.add(User(login="admin", full_name="Not the site's", password_hash="x"))
    with pytest.raises(Conflict, match="not one"):
        ensure_admin(ctx)
