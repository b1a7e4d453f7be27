"""DataLad against a real ``scandepot serve``: a visit's dataset made by the pipeline as
the session is archived, cloned and got by ``datalad`` (git-annex, datalad-next's uncurl
and archivist remotes) over HTTP with the credentials of a private project, files
byte-identical to the catalog's checksums, refused without them; a new scan gives a new
dataset version that ``datalad update`` brings in."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from scandepot.dicom.synthetic import Series, Study
from tests.datalad.peers import datalad, datalad_env, study_zip
from tests.serve_process import PASSWORD, Serve, free_port, serve_env

pytestmark = pytest.mark.interop

ADMIN = ("admin", PASSWORD)
PROJECT = "DLAD"
READER, READER_PASSWORD = "reader", "reader-password-1"
STUDY = Study(StudyInstanceUID="1.2.826.0.1.3680043.8.498.2301")


@dataclass
class Site:
    server: Serve
    visit: str

    @property
    def api(self) -> str:
        return f"{self.server.url}/api/v1"

    def clone_url(self) -> str:
        store = f"{self.server.url}/datalad/{PROJECT}/{self.visit}_"
        return (
            "datalad-annex::?type=external&externaltype=uncurl"
            f"&url={store}{{{{annex_key}}}}&encryption=none"
        )

    @property
    def realm(self) -> str:
        return f"{self.server.url}/scandepot"  # the server's Basic realm, with its host


def _call(method: str, url: str, **kwargs: Any) -> httpx.Response:
    answer = httpx.request(method, url, auth=ADMIN, timeout=60, **kwargs)
    assert answer.status_code < 300, f"{method} {url}: {answer.status_code} {answer.text}"
    return answer


def _import(site: Site, series: list[Series], **params: str) -> str:
    body = study_zip(STUDY, series)
    answer = _call(
        "POST",
        f"{site.api}/projects/{PROJECT}/import",
        params={"subject": "S1", "session": "E1", **params},
        content=body,
        headers={"content-type": "application/octet-stream"},
    )
    return str(answer.json()["sessions"][0]["session_id"])


def _datalad_jobs_done(site: Site, count: int) -> None:
    """Wait until ``count`` datalad jobs of the project succeeded."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        items = _call("GET", f"{site.api}/projects/{PROJECT}/jobs").json()["items"]
        ended = [j for j in items if j["pipeline"] == "datalad"]
        failed = [j for j in ended if j["status"] == "failed"]
        assert not failed, failed
        if sum(j["status"] == "succeeded" for j in ended) >= count:
            return
        time.sleep(0.5)
    raise AssertionError(f"no {count} datalad jobs done:\n{site.server.output()[-3000:]}")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("datalad-serve")
    port = free_port()
    env = serve_env(folder / "data", public_url=f"http://127.0.0.1:{port}")
    server = Serve(folder, env, port=port, start_within_s=180)
    try:
        api = f"{server.url}/api/v1"
        _call(
            "POST",
            f"{api}/projects",
            json={
                "id": PROJECT,
                "accessibility": "private",
                "upload_destination": "archive",
                "session_complete_after_min": 0,
            },
        )
        _call("POST", f"{api}/users", json={"login": READER, "password": READER_PASSWORD})
        _call("PUT", f"{api}/projects/{PROJECT}/users/{READER}", json={"role": "collaborator"})
        _call(
            "PATCH",
            f"{api}/projects/{PROJECT}/pipelines/datalad",
            json={"enabled": True, "auto_launch": True},
        )
        made = Site(server, "")
        made.visit = _import(made, [Series(1, "T1w"), Series(2, "T2w")])
        _datalad_jobs_done(made, 1)
        yield made
    finally:
        server.stop()


def catalogued(site: Site) -> dict[str, str]:
    """The MD5 the catalog holds of each DICOM file of the session, by file name."""
    manifest = _call("GET", f"{site.api}/projects/{PROJECT}/sessions/E1/manifest").json()
    return {f["path"]: f["md5"] for f in manifest["files"] if f["resource"] == "DICOM"}


def md5s(folder: Path) -> dict[str, str]:
    """The files whose content is there (an annexed file without it is a broken link)."""
    return {
        p.name: hashlib.md5(p.read_bytes()).hexdigest()
        for p in folder.rglob("*.dcm")
        if ".git" not in p.parts and p.exists()
    }


def test_clone_get_with_credentials_refused_without_and_update(site: Site, tmp_path: Path) -> None:
    token = httpx.post(
        f"{site.api}/auth/tokens", json={"name": "datalad"}, auth=(READER, READER_PASSWORD)
    ).json()["token"]
    refused = datalad(
        "clone", site.clone_url(), "nothing", cwd=tmp_path, env=datalad_env(), check=False
    )
    assert refused.returncode != 0 and not (tmp_path / "nothing" / ".datalad").exists()
    env = datalad_env((READER, token, site.realm))
    datalad("clone", site.clone_url(), "visit", cwd=tmp_path, env=env)
    clone = tmp_path / "visit"
    files = sorted(p for p in clone.rglob("*.dcm") if ".git" not in p.parts)
    assert len(files) == 6
    expected = catalogued(site)
    datalad("get", str(files[0].relative_to(clone)), cwd=clone, env=env)
    assert md5s(clone) == {files[0].name: expected[files[0].name]}
    datalad("get", ".", cwd=clone, env=env)
    assert md5s(clone) == expected
    tar = next(clone.glob("icf/*_dicom.tar"))
    described = httpx.get(
        f"{site.server.url}/datalad/{PROJECT}/{site.visit}_metadata_tarball.json",
        auth=(READER, token),
    ).json()
    assert hashlib.md5(tar.read_bytes()).hexdigest() == described["md5"]

    # A new scan: the session is archived again (a merge), the pipeline makes a new version.
    assert _import(site, [Series(3, "DWI")], overwrite="append") == site.visit
    _datalad_jobs_done(site, 2)
    datalad("update", "--how", "merge", cwd=clone, env=env)
    datalad("get", ".", cwd=clone, env=env)
    expected = catalogued(site)
    assert len(expected) == 9
    assert md5s(clone) == expected


def test_the_catalog_pages_open_in_chromium_for_readers_only(site: Site, browser: Any) -> None:  # noqa: F811
    url = f"{site.server.url}/datalad/{PROJECT}/catalog/index.html"
    assert httpx.get(url).status_code == 401
    context = browser.new_context(
        http_credentials={"username": READER, "password": READER_PASSWORD}
    )
    context.set_default_timeout(30_000)
    try:
        page = context.new_page()
        elsewhere: list[str] = []
        page.on(
            "request",
            lambda r: None if r.url.startswith(site.server.url) else elsewhere.append(r.url),
        )
        page.goto(url)
        page.get_by_text(f"every visit of project {PROJECT}").wait_for()
        page.get_by_text("Subdatasets").first.click()
        page.get_by_text(site.visit).first.wait_for()
        assert elsewhere == []  # nothing from a CDN: the pages work offline
    finally:
        context.close()
