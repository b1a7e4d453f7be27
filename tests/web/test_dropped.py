"""The prearchive page's "Dropped, not matched": what waits in the drop folders of the
visitor's projects, attached to a session by hand."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from scandepot.access.actors import SYSTEM
from scandepot.archive import sessions, subjects
from scandepot.archive.sessions import SessionCreate
from scandepot.archive.subjects import SubjectCreate
from scandepot.catalog.archive import File
from scandepot.catalog.drops import DropAccount
from scandepot.context import Context
from scandepot.ingest import drop_accounts, drop_settler, drops
from scandepot.ingest.drop_accounts import DropAccountCreate
from scandepot.ingest.sftp_signin import DropPrincipal


def test_dropped_files_are_listed_and_attached_by_hand(
    ctx: Context,
    client: TestClient,
    actors: dict[str, Any],
    make_project: Callable[..., str],
) -> None:
    project = make_project()
    subjects.create(ctx, SYSTEM, project, SubjectCreate(label="SUB1"))
    sessions.create(ctx, SYSTEM, project, SessionCreate(label="MR1", subject="SUB1"))
    drop_accounts.create(ctx, SYSTEM, project, DropAccountCreate(name="console"))
    with ctx.db.read() as db:
        account = db.scalar(select(DropAccount))
        assert account is not None
        who = DropPrincipal(account.id, account.project_id, project, account.username, None)
    drops.make_folder(ctx, who, ("physio",))
    upload = drops.begin(ctx, who, ("physio", "resp.log"))
    upload.write(0, b"breathing")
    drop_settler.finish(upload)

    seen = client.get("/prearchive", auth=actors["member"])
    assert seen.status_code == 200
    assert "Dropped, not matched" in seen.text
    assert f'action="/prearchive/drops/{project}/match"' in seen.text
    assert 'value="physio"' in seen.text
    hidden = client.get("/prearchive", auth=actors["collaborator"])
    assert 'value="physio"' not in hidden.text

    done = client.post(
        f"/prearchive/drops/{project}/match",
        data={"entry": "physio", "session": "MR1"},
        auth=actors["member"],
        follow_redirects=False,
    )
    assert done.status_code == 303
    with ctx.db.read() as db:
        assert list(db.scalars(select(File.path))) == ["physio/resp.log"]
    after = client.get("/prearchive", auth=actors["member"])
    assert "Nothing dropped waits to be matched." in after.text
    wrong = client.post(
        f"/prearchive/drops/{project}/match",
        data={"entry": "nothing", "session": "MR1"},
        auth=actors["member"],
        follow_redirects=False,
    )
    assert wrong.status_code == 404  # nothing there: the error page, as for any page
