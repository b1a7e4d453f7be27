"""Bearer credentials to a DICOMweb destination: another scandepot behind uvicorn takes a
STOW-RS batch with one of its API tokens as the bearer token, and refuses a wrong one with
401, which stops the push with the peer's answer."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select

from scandepot.access.tokens import TokenCreate, create
from scandepot.access.users import actor_for
from scandepot.catalog.access import User
from scandepot.catalog.prearchive import Instance
from scandepot.context import Context
from scandepot.errors import Invalid
from scandepot.push.http_peer import HttpPeer
from scandepot.push.stow import StowSender
from tests.conftest import LiveServer
from tests.push.outgoing import study_batch


def test_a_bearer_token_is_sent_and_a_wrong_one_refused(
    ctx: Context,
    live_server: LiveServer,
    make_project: Callable[..., str],
    users: dict[str, User],
) -> None:
    project = make_project()
    token = create(ctx, actor_for(users["member"], via="password"), TokenCreate(name="push"))
    url = f"{live_server.url}/dicomweb/projects/{project}"
    batch = study_batch(3)
    sender = StowSender(HttpPeer(url=url, auth="bearer", secret=token.token))
    try:
        sender.check()
        sent = sender.send(batch)
    finally:
        sender.close()
    assert all(s.stored for s in sent), sent
    with ctx.db.read() as db:
        stored = set(db.scalars(select(Instance.SOPInstanceUID)))
    assert stored == {o.sop_uid for o in batch}
    wrong = StowSender(HttpPeer(url=url, auth="bearer", secret="sd_not-a-token"))
    try:
        with pytest.raises(Invalid, match="credentials were refused.*HTTP 401"):
            wrong.send(study_batch(1))
    finally:
        wrong.close()
