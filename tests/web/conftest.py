"""A real browser for the web tests: Debian's headless Chromium driven by Playwright.

One browser per test process; each test gets a fresh context (its own cookies) on a
page of a laptop's size, against the app behind a real uvicorn (``live_server``). When
/usr/bin/chromium is missing the tests fail, they are never skipped: scripts/
ensure-services.sh (run by ``make test``) installs it.

Screenshots of the main pages go to $SCANDEPOT_TEST_ARTIFACTS (default tests/artifacts/).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scandepot.context import Context
from scandepot.dicom.synthetic import Series, Study, mr_instance, to_bytes
from scandepot.ingest.receive import Source, receive
from scandepot.prearchive import worker
from tests.conftest import PASSWORD

ARTIFACTS = Path(
    os.environ.get("SCANDEPOT_TEST_ARTIFACTS", Path(__file__).resolve().parents[1] / "artifacts")
)
VIEWPORT = {"width": 1366, "height": 800}  # a laptop screen


@pytest.fixture
def page(browser: Any, live_server: Any) -> Iterator[Any]:
    context = browser.new_context(
        base_url=live_server.url, viewport=VIEWPORT, accept_downloads=True
    )
    context.set_default_timeout(15_000)
    tab = context.new_page()
    tab.on("dialog", lambda dialog: dialog.accept())  # every confirmation is answered yes
    yield tab
    context.close()


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def sign_in(page: Any, login: str, *, start: str = "/") -> None:
    page.goto(start)
    if "/login" not in page.url:
        page.get_by_role("link", name="Sign in").first.click()
    page.get_by_label("Login").fill(login)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text(f"Signed in as {login}").wait_for()


def receive_study(
    ctx: Context,
    project: str,
    *,
    subject: str | None = None,
    session: str | None = None,
    series: tuple[tuple[int, str], ...] = ((1, "T1w MPRAGE"), (2, "BOLD rest")),
    slices: int = 12,
    study: Study | None = None,
) -> None:
    """Receive a synthetic MR study (a phantom head per series) as an upload would, and
    build it: the project's upload destination decides whether it is archived."""
    study = study or Study()
    ctx.settings.prearchive_quiet_s = 0
    for number, description in series:
        one = Series(number, description)
        for k in range(1, slices + 1):
            ds = mr_instance(study, one, k, rows=64, columns=64, phantom_slices=slices)
            with ctx.store.stage() as staged:
                staged.write(to_bytes(ds))
                receive(
                    ctx,
                    staged,
                    Source("upload", project=project, subject=subject, session=session),
                )
    worker.run_once(ctx)
