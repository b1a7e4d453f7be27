"""The notification pages in a real browser: a user's own choices, and an administrator
sending a refused email again."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from scandepot.access.users import actor_for
from scandepot.catalog.access import User
from scandepot.catalog.notify import Delivery
from scandepot.context import Context
from scandepot.notify import choices, outbox
from tests.notify.test_failures import refused_and_failed
from tests.web.conftest import screenshot, sign_in

pytestmark = pytest.mark.interop


def test_a_member_chooses_the_export_process_emails_of_one_project(
    page: Any, ctx: Context, users: dict[str, User], make_project: Callable[..., str]
) -> None:
    project = make_project("private", label="Brain01")
    sign_in(page, "member")
    page.get_by_role("link", name="Notifications").click()
    page.get_by_label("Export process: received, routed, built, archived, pipelines").wait_for()
    page.locator(f"#{project}-process").select_option("on")
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_text(f"Your choices in {project} are saved.").wait_for()
    screenshot(page, "notifications-own")
    view = choices.get(ctx, actor_for(users["member"]))
    assert view.projects[0].own["process"] is True and view.chosen["process"] is None
    page.get_by_role("button", name="Use my choices for all projects").click()
    page.get_by_text("your choices for all projects apply again").wait_for()
    assert choices.get(ctx, actor_for(users["member"])).projects[0].own["process"] is None


@pytest.mark.in_process(
    "looks at the message before a sender takes it, and the deployment runs senders"
)
def test_an_administrator_sends_a_refused_email_again(
    page: Any, ctx: Context, users: dict[str, User], make_project: Callable[..., str]
) -> None:
    project = make_project("private")
    refused, _, _ = refused_and_failed(ctx, project)
    sign_in(page, "admin")
    page.get_by_role("link", name="Failed deliveries").click()
    page.get_by_text("550 no such user").wait_for()
    screenshot(page, "admin-notifications")
    page.locator("tr", has_text="gone@example.org").get_by_role("button", name="Retry").click()
    page.get_by_text(f"Message {refused} to gone@example.org is sent again shortly.").wait_for()
    (row,) = outbox.load(ctx, [refused])
    assert (row.status, row.attempts) == (Delivery.PENDING.value, 0)
