"""The viewer under /viewer without a browser, on both catalogs: its configuration, its
page for OHIF's own routes, its files (media types, caching, the rewrites for /viewer),
who may open a project's viewer, the answer when it is not installed, and the View links.
OHIF itself in Chromium: tests/web/test_viewer.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from scandepot.context import Context
from scandepot.dicom.synthetic import Study
from scandepot.errors import NotFound
from scandepot.web import ohif
from tests.web.conftest import receive_study

HASH = "0123456789abcdef"
BUNDLE = f"app.bundle.{HASH}.js"
STUDY = "1.2.826.0.1.3680043.8.498.55501"


def fake_viewer(folder: Path) -> Path:
    """A viewer folder laid out as OHIF's dist/ is, built for the root of a site."""
    (folder / "assets").mkdir(parents=True)
    (folder / "index.html").write_text(
        '<!doctype html><html><head><script>window.PUBLIC_URL="/"</script>'
        '<link rel="manifest" href="/manifest.json">'
        '<script rel="preload" as="script" src="/app-config.js"></script>'
        f'<script defer src="/{BUNDLE}"></script><link href="/app.bundle.css" rel="stylesheet">'
        '</head><body><div id="root"></div></body></html>'
    )
    (folder / "app-config.js").write_text("window.config = {name: 'the folder own'};")
    (folder / BUNDLE).write_text('var x = 1;\n__webpack_require__.p = "/";\n')
    (folder / f"4321.bundle.{HASH}.js").write_text("var chunk = 2;\n")
    (folder / "app.bundle.css").write_text(f"@font-face{{src:url(/{HASH}.woff2)}}")
    (folder / f"{HASH}.wasm").write_bytes(b"\0asm\1\0\0\0")
    (folder / "assets" / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (folder / "manifest.json").write_text('{"icons": [{"src": "/assets/logo.png"}]}')
    (folder / ohif.MARKER).write_text("@ohif/app@3.13.2 sha512-x\n")
    return folder


@pytest.fixture
def viewer(ctx: Context, tmp_path: Path) -> Path:
    ctx.settings.viewer_dir = fake_viewer(tmp_path / "ohif")
    return ctx.settings.viewer_dir


@pytest.fixture
def brain(ctx: Context, make_project: Callable[..., str]) -> str:
    """A private project with one archived session of two series."""
    label = make_project("private", label="Brain01", upload_destination="archive")
    study = Study(StudyInstanceUID=STUDY)
    receive_study(ctx, label, subject="sub-01", session="ses-01", slices=2, study=study)
    return label


def config_of(script: str) -> Any:
    found = re.search(r"window\.config = (\{.*\});\s*$", script, re.S)
    assert found is not None, script
    return json.loads(found.group(1))


def test_a_project_viewer_reads_the_project_dicomweb_root(
    client: TestClient, actors: dict[str, Any], brain: str
) -> None:
    r = client.get("/viewer/projects/Brain01/app-config.js", auth=actors["collaborator"])
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/javascript")
    assert r.headers["cache-control"] == "no-store"
    config = config_of(r.text)
    assert config["routerBasename"] == "/viewer/projects/Brain01"
    (source,) = config["dataSources"]
    assert config["defaultDataSourceName"] == source["sourceName"]
    assert source["namespace"] == "@ohif/extension-default.dataSourcesModule.dicomweb"
    dicomweb = source["configuration"]
    for root in ("qidoRoot", "wadoRoot"):
        assert dicomweb[root] == "/dicomweb/projects/Brain01"  # same origin: the cookie goes
    assert dicomweb["wadoUriRoot"] == "/wado"
    assert dicomweb["imageRendering"] == dicomweb["thumbnailRendering"] == "wadors"
    assert dicomweb["enableStudyLazyLoad"] is True
    assert dicomweb["supportsFuzzyMatching"] is True
    assert dicomweb["qidoSupportsIncludeField"] is True
    assert dicomweb["omitQuotationForMultipartRequest"] is True
    assert dicomweb["dicomUploadEnabled"] is False
    # No credentials of any kind in what every reader of the project is sent, and no code
    # or configuration from elsewhere (OHIF's ?configUrl= and ?customization= stay off).
    assert not {"requestOptions", "auth", "oidc"} & (set(dicomweb) | set(config))
    assert not {"dangerouslyUseDynamicConfig", "customizationUrlPrefixes"} & set(config)


def test_the_site_viewer_reads_the_site_wide_root(client: TestClient) -> None:
    r = client.get("/viewer/app-config.js")
    assert r.status_code == 200
    config = config_of(r.text)
    assert config["routerBasename"] == "/viewer"
    assert config["dataSources"][0]["configuration"]["qidoRoot"] == "/dicomweb"
    assert "the folder own" not in r.text


@pytest.mark.parametrize(
    "route",
    ["", "/", "/viewer?StudyInstanceUIDs=" + STUDY, "/segmentation?StudyInstanceUIDs=1.2"],
)
def test_every_route_of_ohif_gets_the_page(
    client: TestClient, actors: dict[str, Any], brain: str, viewer: Path, route: str
) -> None:
    r = client.get("/viewer/projects/Brain01" + route, auth=actors["member"])
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert r.headers["cache-control"] == "no-store"
    page = r.text
    assert 'window.PUBLIC_URL="/viewer/"' in page
    assert '<script rel="preload" as="script" src="/viewer/projects/Brain01/app-config.js">' in page
    assert f'src="/viewer/{BUNDLE}"' in page and 'href="/viewer/app.bundle.css"' in page
    assert not re.search(r'(src|href)="/(?!viewer/)', page)
    # A path with a dot in its last part is no route of OHIF's: a file that is not there.
    assert client.get("/viewer/projects/Brain01/x.js", auth=actors["member"]).status_code == 404


def test_the_site_viewer_page_and_files_that_are_not_there(
    client: TestClient, viewer: Path
) -> None:
    for path in ("/viewer/", "/viewer/viewer?StudyInstanceUIDs=1.2.3", "/viewer/index.html"):
        r = client.get(path)
        assert r.status_code == 200, path
        assert 'src="/viewer/app-config.js"' in r.text
    r = client.get("/viewer", follow_redirects=False)
    assert r.status_code in (307, 308) and r.headers["location"].endswith("/viewer/")
    for missing in ("/viewer/nothing.js", "/viewer/assets/none.png", "/viewer/.scandepot-viewer"):
        r = client.get(missing)
        assert r.status_code == 404, missing
        assert r.headers["content-type"].startswith("text/html")


def test_files_go_with_their_media_types_and_cache_headers(
    client: TestClient, viewer: Path
) -> None:
    r = client.get(f"/viewer/{BUNDLE}")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/javascript; charset=utf-8"
    assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
    # Chunks, workers and WebAssembly come from /viewer/, as the page does.
    assert r.text == 'var x = 1;\n__webpack_require__.p = "/viewer/";\n'
    r = client.get(f"/viewer/4321.bundle.{HASH}.js", headers={"accept-encoding": "identity"})
    assert r.text == "var chunk = 2;\n" and r.headers["content-length"] == "15"
    assert "content-encoding" not in r.headers and r.headers["vary"] == "accept-encoding"
    r = client.get(f"/viewer/{HASH}.wasm")
    assert r.headers["content-type"] == "application/wasm"
    assert r.content == b"\0asm\1\0\0\0"
    assert "immutable" in r.headers["cache-control"]
    r = client.get("/viewer/app.bundle.css")
    assert r.text == f"@font-face{{src:url(/viewer/{HASH}.woff2)}}"
    assert r.headers["cache-control"] == "no-cache"
    again = client.get("/viewer/app.bundle.css", headers={"if-none-match": r.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    r = client.get("/viewer/assets/logo.png")
    assert r.headers["content-type"] == "image/png" and r.content == b"\x89PNG\r\n\x1a\n"
    assert client.get("/viewer/manifest.json").json() == {
        "icons": [{"src": "/viewer/assets/logo.png"}]
    }


def test_scripts_go_compressed_to_browsers_that_take_it(client: TestClient, viewer: Path) -> None:
    (viewer / BUNDLE).write_text('__webpack_require__.p = "/";\n' * 10_000)
    plain = client.get(f"/viewer/{BUNDLE}", headers={"accept-encoding": "identity"})
    assert plain.content == b'__webpack_require__.p = "/viewer/";\n' * 10_000
    for taking in ("gzip", "br, gzip;q=0.8, deflate"):
        r = client.get(f"/viewer/{BUNDLE}", headers={"accept-encoding": taking})
        assert r.headers["content-encoding"] == "gzip"
        assert int(r.headers["content-length"]) < len(plain.content) / 50
        assert r.content == plain.content  # as the client decodes it
        assert r.headers["etag"] != plain.headers["etag"]
        again = client.get(
            f"/viewer/{BUNDLE}",
            headers={"accept-encoding": taking, "if-none-match": r.headers["etag"]},
        )
        assert again.status_code == 304
    refused = client.get(f"/viewer/{BUNDLE}", headers={"accept-encoding": "gzip;q=0"})
    assert "content-encoding" not in refused.headers
    picture = client.get("/viewer/assets/logo.png", headers={"accept-encoding": "gzip"})
    assert "content-encoding" not in picture.headers and "vary" not in picture.headers


def test_no_file_outside_the_folder_is_sent(viewer: Path) -> None:
    (viewer.parent / "secret.txt").write_text("not the viewer's")
    (viewer / "link.txt").symlink_to(viewer.parent / "secret.txt")
    installed = ohif.Installed.at(viewer)
    assert installed.version == "@ohif/app@3.13.2"
    for name in ("../secret.txt", "assets/../../secret.txt", "link.txt", "app-config.js", ""):
        with pytest.raises(NotFound):
            installed.asset(name)
    assert installed.asset("assets//logo.png").path == viewer / "assets" / "logo.png"


def test_a_project_viewer_is_for_its_readers_only(
    client: TestClient, actors: dict[str, Any], brain: str, viewer: Path
) -> None:
    url = f"/viewer/projects/Brain01/viewer?StudyInstanceUIDs={STUDY}"
    for name in ("outsider",):
        for path in (url, "/viewer/projects/Brain01/app-config.js"):
            r = client.get(path, auth=actors[name])
            assert r.status_code == 404
            assert "PUBLIC_URL" not in r.text and "dicomweb" not in r.text
    r = client.get(url, follow_redirects=False)  # signed out: sign in, then back here
    assert r.status_code == 303
    assert parse_qs(urlsplit(r.headers["location"]).query)["next"] == [url]
    assert client.get(url, auth=actors["collaborator"]).status_code == 200


def test_without_the_viewer_the_page_says_how_to_install_it(
    ctx: Context, client: TestClient, actors: dict[str, Any], brain: str, tmp_path: Path
) -> None:
    ctx.settings.viewer_dir = tmp_path / "nowhere"
    for path in ("/viewer/projects/Brain01/viewer", "/viewer/", f"/viewer/{BUNDLE}"):
        r = client.get(path, auth=actors["member"])
        assert r.status_code == 503, path
        assert r.headers["content-type"].startswith("text/html")
        assert "not installed" in r.text and "make install" in r.text
        assert "SCANDEPOT_VIEWER_DIR" in r.text
    # Who may not read the project learns that, not whether a viewer is installed.
    assert client.get("/viewer/projects/Brain01/", auth=actors["outsider"]).status_code == 404


def test_readers_see_view_links_on_sessions_and_scans(
    client: TestClient, actors: dict[str, Any], brain: str
) -> None:
    r = client.get("/projects/Brain01/sessions/ses-01", auth=actors["collaborator"])
    assert r.status_code == 200
    links = dict(
        (text.strip(), href.replace("&amp;", "&"))
        for href, text in re.findall(r'<a[^>]*href="(/viewer/[^"]+)"[^>]*>(.*?)</a>', r.text)
    )
    base = f"/viewer/projects/Brain01/viewer?StudyInstanceUIDs={STUDY}"
    assert links.pop("View images") == base
    assert sorted(links) == [
        'View<span class="sr-only"> scan 1</span>',
        'View<span class="sr-only"> scan 2</span>',
    ]
    for href in links.values():
        query = parse_qs(urlsplit(href).query)
        assert query["StudyInstanceUIDs"] == [STUDY]
        (series,) = query["initialSeriesInstanceUID"]
        assert re.fullmatch(r"[0-9.]+", series)
    assert len(set(links.values())) == 2


def test_a_session_without_dicom_has_no_view_link(
    client: TestClient, actors: dict[str, Any], make_project: Callable[..., str]
) -> None:
    label = make_project("private")
    member = actors["member"]
    api = f"/api/v1/projects/{label}"
    assert client.post(api + "/subjects", json={"label": "S1"}, auth=member).status_code == 201
    made = client.post(api + "/sessions", json={"label": "E1", "subject": "S1"}, auth=member)
    assert made.status_code == 201
    r = client.get(f"/projects/{label}/sessions/E1", auth=member)
    assert r.status_code == 200 and "/viewer/" not in r.text
