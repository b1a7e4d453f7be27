"""The project's Manage tab: the wait before auto-launched pipelines start."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from scandepot.access.actors import SYSTEM
from scandepot.archive import projects
from scandepot.context import Context
from tests.web.test_pages import _signed_in

P = "/projects/P"


def test_the_manage_tab_sets_when_a_session_counts_as_complete(
    ctx: Context, client: TestClient, make_project: Callable[..., str]
) -> None:
    make_project("private", label="P")
    token = _signed_in(client, "owner")
    page = client.get(P + "?tab=manage").text
    assert 'name="session_complete_after_min"' in page and 'value="5"' in page
    form = {"name": "P", "conflict_policy": "keep", "csrf_token": token}
    r = client.post(P + "/settings", data={**form, "session_complete_after_min": "12"})
    assert r.status_code == 200 and "The project settings are saved." in r.text
    assert projects.get(ctx, SYSTEM, "P").project.session_complete_after_min == 12
    r = client.post(P + "/settings", data={**form, "session_complete_after_min": "-1"})
    assert "greater than or equal to 0" in r.text
    assert projects.get(ctx, SYSTEM, "P").project.session_complete_after_min == 12
