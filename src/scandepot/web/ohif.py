"""The OHIF viewer as installed: its files, served under /viewer, and its configuration.

The folder is the ``dist/`` folder of the ``@ohif/app`` npm package, which
scripts/fetch-viewer.sh unpacks (the setting ``viewer_dir``). That build is made for the
root of a site: its page, scripts and style sheet name their files from ``/``. Served
under ``/viewer/``, the few places that say so are rewritten as the files are read
(:data:`REWRITES`), once per file and kept in memory; every other file goes out as it is
on disk. The folder's ``app-config.js`` is never sent: scandepot writes the configuration
(:func:`app_config`), one per view (a project, or the whole site), and the page names it.
"""

from __future__ import annotations

import functools
import gzip
import json
import mimetypes
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from scandepot.errors import NotFound, ScandepotError

BASE = "/viewer"
DICOMWEB = "/dicomweb"
WADO_URI = "/wado"  # WADO-URI has one address for the site; the caller's rights apply
MARKER = ".scandepot-viewer"  # written by scripts/fetch-viewer.sh: "@ohif/app@VERSION hash"
CONFIG = "app-config.js"
INSTALL = "scripts/fetch-viewer.sh"

# Media types by suffix: what browsers insist on (module scripts, WebAssembly streaming
# compilation) does not depend on the machine's /etc/mime.types.
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".wasm": "application/wasm",
    ".woff2": "font/woff2",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".xml": "application/xml",
    ".webapp": "application/x-web-app-manifest+json",
    ".txt": "text/plain; charset=utf-8",
}

# What a file of a root build says about where the viewer lives, and what it says under
# /viewer: webpack's public path (where chunks, workers and WebAssembly are fetched from),
# the page's links, the style sheet's fonts and the web manifest's icons.
_ROOT = BASE + "/"
REWRITES: dict[str, tuple[tuple[bytes, bytes], ...]] = {
    ".html": (
        (b'window.PUBLIC_URL="/"', f'window.PUBLIC_URL="{_ROOT}"'.encode()),
        (b'href="/', f'href="{_ROOT}'.encode()),
        (b'src="/', f'src="{_ROOT}'.encode()),
    ),
    ".js": (
        (b'__webpack_require__.p = "/"', f'__webpack_require__.p = "{_ROOT}"'.encode()),
        (b"'/dicom-microscopy-viewer/", f"'{_ROOT}dicom-microscopy-viewer/".encode()),
    ),
    ".css": ((b"url(/", f"url({_ROOT}".encode()),),
    ".json": ((b'"/assets/', f'"{_ROOT}assets/'.encode()),),
}

# Sent gzip-compressed to browsers that take it (a third of the bytes for the scripts),
# compressed once per file and kept in memory; files over the limit go as they are.
COMPRESSIBLE = frozenset({".js", ".mjs", ".css", ".html", ".json", ".map", ".wasm", ".svg"})
COMPRESS_MAX_BYTES = 32 * 1024 * 1024

# A name with a content hash in it (bundles, WebAssembly modules, fonts) never changes.
_HASHED = re.compile(r"(?:^|[./])[0-9a-f]{16}\.[a-z0-9]+$")


class ViewerMissing(ScandepotError):
    """The viewer's files are not where the setting ``viewer_dir`` says."""

    code = "viewer_not_installed"
    status = 503

    def __init__(self, folder: Path) -> None:
        super().__init__(
            f"The image viewer is not installed: {folder} holds no OHIF viewer. "
            f"`make install` fetches it (or run `{INSTALL} {folder}`), or set "
            "SCANDEPOT_VIEWER_DIR to the dist/ folder of the @ohif/app npm package."
        )


@dataclass(frozen=True, slots=True)
class Asset:
    """One file of the viewer, ready to send."""

    path: Path
    media_type: str
    etag: str
    immutable: bool
    body: bytes | None  # rewritten content; None: the file as it is on disk
    size: int  # of the file on disk

    @property
    def compressible(self) -> bool:
        return self.path.suffix.lower() in COMPRESSIBLE and self.size <= COMPRESS_MAX_BYTES

    def gzipped(self) -> bytes:
        """The content as sent, gzip-compressed (kept after the first time)."""
        return _gzipped(str(self.path), self.etag, self.size)


@dataclass(frozen=True, slots=True)
class Installed:
    folder: Path

    @classmethod
    def at(cls, folder: Path) -> Installed:
        """The viewer in ``folder``; :class:`ViewerMissing` (503) when there is none."""
        if not (folder / "index.html").is_file():
            raise ViewerMissing(folder)
        return cls(folder.resolve())

    @property
    def version(self) -> str | None:
        """What scripts/fetch-viewer.sh installed, e.g. ``@ohif/app@3.13.2``."""
        try:
            return (self.folder / MARKER).read_text().split()[0]
        except (OSError, IndexError):
            return None

    def asset(self, name: str) -> Asset:
        """The file ``name`` (a path relative to the folder), rewritten for /viewer when
        it needs to be. Raises :class:`NotFound` for anything that is not a file of the
        viewer, outside the folder, hidden, or the folder's own configuration."""
        path = self._file(name)
        stat = path.stat()
        body = _rewritten(str(path), stat.st_mtime_ns, stat.st_size)
        return Asset(
            path=path,
            media_type=media_type(path.name),
            etag=f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"',
            immutable=_HASHED.search(path.name) is not None,
            body=body,
            size=stat.st_size,
        )

    def page(self, config_url: str) -> bytes:
        """The viewer's page, its files named under /viewer and its configuration at
        ``config_url``."""
        asset = self.asset("index.html")
        html = asset.body if asset.body is not None else asset.path.read_bytes()
        script = f'src="{_ROOT}{CONFIG}"'.encode()
        named = f'src="{config_url}"'.encode()
        if script in html:
            return html.replace(script, named)
        return html.replace(b"<head>", b"<head><script " + named + b"></script>", 1)

    def _file(self, name: str) -> Path:
        parts = [p for p in name.split("/") if p]
        if not parts or name == CONFIG or any(p.startswith(".") for p in parts):
            raise NotFound(f"There is no file '{name}' in the viewer.")
        path = (self.folder / "/".join(parts)).resolve()
        if not path.is_relative_to(self.folder) or not path.is_file():
            raise NotFound(f"There is no file '{name}' in the viewer.")
        return path


def media_type(name: str) -> str:
    suffix = Path(name).suffix.lower()
    if suffix in MEDIA_TYPES:
        return MEDIA_TYPES[suffix]
    guessed, _ = mimetypes.guess_type(name)
    return guessed or "application/octet-stream"


@functools.lru_cache(maxsize=1024)
def _rewritten(path: str, mtime_ns: int, size: int) -> bytes | None:
    """The content of ``path`` with :data:`REWRITES` applied, or None when nothing in it
    changes (the file is then sent from disk). Keyed by the file's time and size."""
    rules = REWRITES.get(Path(path).suffix.lower())
    if not rules:
        return None
    data = Path(path).read_bytes()
    changed = data
    for old, new in rules:
        changed = changed.replace(old, new)
    return None if changed == data else changed


@functools.lru_cache(maxsize=256)
def _gzipped(path: str, etag: str, size: int) -> bytes:
    stat = Path(path).stat()
    body = _rewritten(path, stat.st_mtime_ns, stat.st_size)
    data = body if body is not None else Path(path).read_bytes()
    return gzip.compress(data, compresslevel=6, mtime=0)


def view_base(project: str | None) -> str:
    """Where the viewer of ``project`` (None: the whole site) lives: OHIF's router base."""
    return BASE if project is None else f"{BASE}/projects/{project}"


def view_url(project: str, study: str, series: str | None = None) -> str:
    """Where the viewer shows ``study`` of ``project``; with ``series``, that series first."""
    query = {"StudyInstanceUIDs": study}
    if series:
        query["initialSeriesInstanceUID"] = series
    return f"{view_base(project)}/viewer?{urlencode(query)}"


def app_config(project: str | None) -> dict[str, Any]:
    """OHIF's ``window.config`` for the viewer of ``project`` (None: the whole site): one
    DICOMweb data source, the project's root (or the site-wide one), on this server. The
    browser sends its session cookie with every request (same origin); no token, no
    Authorization header."""
    root = DICOMWEB if project is None else f"{DICOMWEB}/projects/{project}"
    described = f"project {project}" if project else "every project you may read"
    return {
        "name": "scandepot",
        "routerBasename": view_base(project),
        "extensions": [],
        "modes": [],
        "customizationService": {},
        "showStudyList": True,
        "maxNumberOfWebWorkers": 3,
        "showWarningMessageForCrossOrigin": False,
        "showCPUFallbackMessage": True,
        "showLoadingIndicator": True,
        "strictZSpacingForVolumeViewport": True,
        "groupEnabledModesFirst": True,
        "allowMultiSelectExport": False,
        "maxNumRequests": {"interaction": 100, "thumbnail": 5, "prefetch": 25},
        # "For investigational use only": asked once, then again after 90 days.
        "investigationalUseDialog": {"option": "configure", "days": 90},
        "defaultDataSourceName": "scandepot",
        "dataSources": [
            {
                "namespace": "@ohif/extension-default.dataSourcesModule.dicomweb",
                "sourceName": "scandepot",
                "configuration": {
                    "friendlyName": f"scandepot: {described}",
                    "name": "scandepot",
                    "qidoRoot": root,
                    "wadoRoot": root,
                    "wadoUriRoot": WADO_URI,
                    "qidoSupportsIncludeField": True,
                    "supportsReject": False,
                    "supportsStow": False,
                    "dicomUploadEnabled": False,
                    "imageRendering": "wadors",
                    "thumbnailRendering": "wadors",
                    "enableStudyLazyLoad": True,
                    "supportsFuzzyMatching": True,
                    "supportsWildcard": True,
                    "staticWado": False,
                    "bulkDataURI": {"enabled": True, "relativeResolution": "studies"},
                    "omitQuotationForMultipartRequest": True,
                },
            }
        ],
    }


def config_script(project: str | None) -> bytes:
    """``app-config.js``: the configuration as the script OHIF reads before it starts."""
    text = json.dumps(app_config(project), indent=2).replace("<", "\\u003c")
    where = f"project {project}" if project else "the whole site"
    head = f"/* OHIF configuration for {where}, written by scandepot. */"
    return f"{head}\nwindow.config = {text};\n".encode()
