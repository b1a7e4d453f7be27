"""The OHIF viewer in a real browser: a member opens a session's View and sees its image,
an outsider gets no study. Debian's Chromium through Playwright, against the app behind a
real uvicorn, with the viewer that `make install` fetched (SCANDEPOT_VIEWER_DIR).
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from scandepot.context import Context
from scandepot.dicom.synthetic import Series, Study, mr_instance, to_bytes
from scandepot.ingest.receive import Source, receive
from scandepot.prearchive import worker
from tests.web.conftest import screenshot, sign_in

pytestmark = pytest.mark.interop

STUDY = "1.2.826.0.1.3680043.8.498.66601"
SERIES = "1.2.826.0.1.3680043.8.498.66602"
VIEWPORT = ".cornerstone-viewport-element"
SLICES = range(18, 24)  # middle slices of a 40-slice phantom head: a disc on every one


@pytest.fixture
def backend() -> str:
    """The browser tests run on the embedded catalog; test_viewer_files.py covers both."""
    return "sqlite"


@pytest.fixture
def brain(ctx: Context, make_project: Callable[..., str]) -> str:
    """A private project with one archived session: one series of 128 x 128 axial slices
    through a phantom head (a bright disc in dark noise)."""
    assert (ctx.settings.viewer_dir / "index.html").is_file(), (
        f"the OHIF viewer is not in {ctx.settings.viewer_dir}: `make install` fetches it"
    )
    label = make_project("private", label="Brain01", upload_destination="archive")
    ctx.settings.prearchive_quiet_s = 0
    study = Study(StudyInstanceUID=STUDY)
    series = Series(1, "T1w MPRAGE", SeriesInstanceUID=SERIES)
    for number in SLICES:
        ds = mr_instance(study, series, number, rows=128, columns=128, phantom_slices=40)
        with ctx.store.stage() as staged:
            staged.write(to_bytes(ds))
            receive(ctx, staged, Source("upload", project=label, subject="s1", session="e1"))
    worker.run_once(ctx)
    return label


@dataclass
class Traffic:
    """What the page asked of the server's DICOMweb roots, and what it was answered."""

    origin: str
    answers: list[tuple[str, int]] = field(default_factory=list)
    elsewhere: list[str] = field(default_factory=list)  # requests to any other origin
    authorization: list[str] = field(default_factory=list)

    def request(self, request: Any) -> None:
        if not request.url.startswith(self.origin):
            self.elsewhere.append(request.url)
        elif "authorization" in request.headers:
            self.authorization.append(request.url)

    def response(self, response: Any) -> None:
        if "/dicomweb/" in response.url:
            self.answers.append((response.url.removeprefix(self.origin), response.status))


@pytest.fixture
def traffic(page: Any, live_server: Any) -> Iterator[Traffic]:
    seen = Traffic(live_server.url)
    page.on("request", seen.request)
    page.on("response", seen.response)
    yield seen


LOADED = 60_000  # ms: OHIF's first start parses 17 MB of scripts, slow on a busy machine


def dismiss_notices(page: Any) -> None:
    """OHIF's first-visit notices, answered as a first-time user would: the notice of
    investigational use and the guided tour. They come up in either order, and the
    tour's overlay covers the notice's button as soon as it is up (before its own "Skip
    all" shows): a click on the notice that does not go through waits for the tour."""
    notice = page.get_by_role("button", name="Confirm and hide")
    tour = page.get_by_text("Skip all")
    deadline = time.monotonic() + LOADED / 1000
    left = {"notice", "tour"}
    while left:
        assert time.monotonic() < deadline, f"OHIF's first-visit notices stayed: {left}"
        if "tour" in left and tour.is_visible():
            tour.click()
            left.discard("tour")
        elif "notice" in left and notice.is_visible():
            try:
                notice.click(timeout=2_000)
                left.discard("notice")
            except PlaywrightTimeout:
                pass  # the tour's overlay is over it
        else:
            page.wait_for_timeout(100)


def grey(png: bytes, box: dict[str, float]) -> np.ndarray[Any, Any]:
    """The pixels of ``box`` (CSS pixels of the page) in a screenshot, as grey levels."""
    picture = Image.open(io.BytesIO(png)).convert("L")
    x, y = round(box["x"]), round(box["y"])
    crop = picture.crop((x, y, x + round(box["width"]), y + round(box["height"])))
    return np.asarray(crop, dtype=np.float64)


@dataclass(frozen=True)
class Picture:
    spread: float  # standard deviation of the band across the viewport's middle
    centre: float  # mean grey of the band's middle tenth: the disc
    side: float  # mean grey of the band's left twentieth: the background

    @classmethod
    def of(cls, pixels: np.ndarray[Any, Any]) -> Picture:
        height, width = pixels.shape
        band = pixels[int(height * 0.45) : int(height * 0.55)]
        return cls(
            spread=float(band.std()),
            centre=float(band[:, int(width * 0.45) : int(width * 0.55)].mean()),
            side=float(band[:, : int(width * 0.05)].mean()),
        )

    @property
    def is_the_phantom(self) -> bool:
        return self.spread > 40 and self.centre > 120 and self.side < 40


def test_a_member_views_a_session_and_sees_its_image(
    page: Any, brain: str, traffic: Traffic
) -> None:
    sign_in(page, "member", start="/projects/Brain01/sessions/e1")
    page.get_by_role("link", name="View images").click()
    page.wait_for_url("**/viewer/projects/Brain01/viewer?StudyInstanceUIDs=" + STUDY)
    dismiss_notices(page)
    viewport = page.locator(VIEWPORT).first
    viewport.wait_for()
    # The image arrives after the page: look again until it is drawn, for at most 60 s.
    deadline = page.evaluate("Date.now()") + 60_000
    seen = Picture.of(grey(page.screenshot(), viewport.bounding_box()))
    while not seen.is_the_phantom and page.evaluate("Date.now()") < deadline:
        page.wait_for_timeout(250)
        seen = Picture.of(grey(page.screenshot(), viewport.bounding_box()))
    screenshot(page, "viewer")
    assert seen.is_the_phantom, seen
    frames = [url for url, status in traffic.answers if "/frames/" in url and status == 200]
    assert frames and all(u.startswith("/dicomweb/projects/Brain01/") for u in frames)
    assert [a for a in traffic.answers if a[1] >= 400] == []
    # The session cookie took the member there: no token, no Authorization header, and
    # nothing fetched from anywhere but this server.
    assert traffic.authorization == [] and traffic.elsewhere == []


def test_a_scan_view_opens_that_series(page: Any, brain: str) -> None:
    sign_in(page, "collaborator", start="/projects/Brain01/sessions/e1")
    page.get_by_role("link", name="View scan 1").click()
    page.wait_for_url(f"**/viewer?StudyInstanceUIDs={STUDY}&initialSeriesInstanceUID={SERIES}")
    page.locator(VIEWPORT).first.wait_for(timeout=LOADED)


def test_an_outsider_gets_no_study(page: Any, brain: str, traffic: Traffic) -> None:
    sign_in(page, "outsider")
    url = f"/viewer/projects/Brain01/viewer?StudyInstanceUIDs={STUDY}"
    answer = page.goto(url)
    assert answer.status == 404  # the project's viewer is not sent
    assert page.get_by_role("heading", name="Not found").is_visible()
    assert page.locator("canvas").count() == 0
    # What OHIF would ask for, asked from the outsider's page with its cookie: refused.
    root = "/dicomweb/projects/Brain01/studies/" + STUDY
    for asked in (root + "/series", root + f"/series/{SERIES}/metadata"):
        status = page.evaluate("async url => (await fetch(url)).status", asked)
        assert status == 404, asked
    # The site-wide viewer is for everyone, and shows the outsider nothing of Brain01.
    traffic.answers.clear()
    page.goto(f"/viewer/viewer?StudyInstanceUIDs={STUDY}")
    gone = page.get_by_text("One or more of the requested studies are not available")
    gone.wait_for(timeout=LOADED)
    screenshot(page, "viewer-outsider")
    assert traffic.answers, "OHIF asked nothing of the site-wide root"
    for asked, status in list(traffic.answers):  # (the fetches below add to it)
        assert asked.startswith("/dicomweb/studies") and "/series/" not in asked, asked
        if status < 400:  # a search that matched nothing
            again = "async url => (await fetch(url)).json()"
            assert page.evaluate(again, asked) == [], asked
    assert page.locator(VIEWPORT).count() == 0
