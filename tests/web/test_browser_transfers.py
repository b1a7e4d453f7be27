"""Moving a session to another project in a real browser: tick it, choose Move, see the
check, confirm, and watch the transfer's page until its report says it was verified."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from scandepot.catalog.pipelines import JobStatus
from scandepot.context import Context
from tests.transfers.conftest import run_transfers
from tests.web.conftest import receive_study, screenshot, sign_in

pytestmark = pytest.mark.interop


@pytest.fixture
def backend() -> str:
    """The browser tests run on the embedded catalog; tests/web/test_transfers.py covers both."""
    return "sqlite"


def test_move_a_session_from_the_project_page(
    page: Any, ctx: Context, make_project: Callable[..., str]
) -> None:
    make_project("private", label="Brain01", upload_destination="archive")
    make_project("private", label="Backup01", upload_destination="archive")
    receive_study(ctx, "Brain01", subject="sub-01", session="ses-01")
    receive_study(ctx, "Brain01", subject="sub-02", session="ses-02")
    sign_in(page, "owner", start="/projects/Brain01")

    page.get_by_label("Choose ses-01").check()
    page.get_by_role("button", name="Move…").click()
    page.get_by_role("heading", name="Move sessions from Brain01").wait_for()
    page.get_by_label("Destination project").select_option("Backup01")
    page.get_by_label("Session rule").fill("{subject}_{label}")
    screenshot(page, "transfer-form")
    page.get_by_role("button", name="Check").click()

    page.get_by_role("heading", name="Check: move from Brain01 to Backup01").wait_for()
    plan = page.locator("table.plan tbody tr")
    assert plan.count() == 1
    assert "sub-01/sub-01_ses-01" in plan.inner_text() and "new subject" in plan.inner_text()
    screenshot(page, "transfer-check")
    page.get_by_role("button", name="Confirm: move 1 session(s)").click()

    page.get_by_text("Transfer 1 is queued.").wait_for()
    assert page.get_by_role("button", name="Cancel").is_visible()
    assert run_transfers(ctx) == [JobStatus.SUCCEEDED]
    page.locator(".badge-verified").wait_for()  # the page reloads itself
    report = page.locator("table.report tbody tr").inner_text()
    assert "deleted" in report and "by catalog and bytes" in report and "match" in report
    assert page.get_by_role("button", name="Cancel").count() == 0
    screenshot(page, "transfer-report")

    page.get_by_role("link", name="Backup01").first.click()
    assert page.get_by_role("link", name="sub-01_ses-01").is_visible()
    page.goto("/projects/Brain01")
    assert page.get_by_role("link", name="ses-02").is_visible()
    assert page.get_by_role("link", name="ses-01", exact=True).count() == 0
