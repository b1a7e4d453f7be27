"""The catalogue's pages in a real browser (Debian's chromium, driven by Playwright): an
anonymous visitor finds a published dataset, opens it at its stable address, reads its
figures, and finds the harvesters' description in the page."""

from __future__ import annotations

import json
from typing import Any

import pytest

from scandepot.context import Context
from tests.datasets import published
from tests.datasets.conftest import Cohort
from tests.web.conftest import page, screenshot

pytestmark = pytest.mark.interop
__all__ = ["page"]  # the page fixture, shared with tests/web (the browser is the root conftest's)


@pytest.fixture
def backend() -> str:
    """Browser tests run on the embedded catalog; test_catalogue.py covers both."""
    return "sqlite"


def test_find_a_dataset_and_read_its_figures(ctx: Context, cohort: Cohort, page: Any) -> None:
    stable_id, _ = published.publish(ctx, cohort.session_ids, name="cohort-one")
    published.listed(ctx, "knee", title="Knee cartilage", body_parts=("KNEE",))
    page.goto("/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Datasets").click()
    page.get_by_role("heading", name="Datasets").wait_for()
    assert page.locator("table.datasets tbody tr").count() == 2
    screenshot(page, "catalogue")
    page.get_by_label("Body part").fill("brain")
    page.get_by_role("button", name="Search").click()
    rows = page.locator("table.datasets tbody tr")
    assert rows.count() == 1 and "Brain development cohort" in rows.inner_text()
    page.get_by_role("link", name=stable_id).click()
    page.get_by_role("heading", name="Brain development cohort").wait_for()
    assert page.url.endswith(f"/datasets/{stable_id}/v1")
    counts = page.locator("table.counts")
    assert "Subjects" in counts.inner_text() and "12" in counts.inner_text()
    modalities = page.locator("table.aggregates", has_text="Modalities").inner_text()
    assert "MR" in modalities and "CT" in modalities and "<5" in modalities
    ages = page.locator("table.aggregates", has_text="Age").inner_text()
    assert "suppressed" in ages and "70–79" in ages
    assert page.locator("table.aggregates", has_text="Diagnosis").count() == 1
    described = json.loads(page.locator('script[type="application/ld+json"]').inner_text())
    assert described["@type"] == "Dataset" and described["name"] == "Brain development cohort"
    screenshot(page, "dataset-version")
    page.get_by_role("link", name="neurodevelopment").first.click()
    assert page.locator("table.datasets tbody tr").count() == 1
