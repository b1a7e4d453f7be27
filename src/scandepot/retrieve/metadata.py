"""WADO-RS metadata (PS3.18 §10.4.1.1.2): the DICOM JSON model of every instance, bulk
data replaced by a BulkDataURI that the bulkdata route answers.

A series' metadata is made once and kept: a JSON file under ``dicomweb/metadata/`` in the
data folder (written through storage/), named by a digest of what the series holds (each
instance's SOP Instance UID and its file's SHA-256, from the catalog). A request reads the
catalog (one query), computes the name and sends the file: it never reads the instances
again while the series is unchanged. Anything that changes the series (instances archived
into it, deleted, replaced) changes the name, so a kept file is never stale; the next
request makes the new one, and old ones are removed. Sessions archived are made at once, on a
thread of their own, so the first viewer does not wait (:mod:`.warming`).

The kept file holds BulkDataURIs relative to the service root, behind a marker that no
DICOM value holds; a request puts its own root (site-wide or a project's) in their place.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from itertools import groupby
from pathlib import Path
from typing import Any

import pydicom
from pydicom.dataset import Dataset

from scandepot.context import Context
from scandepot.errors import NotAcceptable
from scandepot.query.scope import Scope
from scandepot.retrieve import accept
from scandepot.retrieve.instances import Located, locate
from scandepot.retrieve.lenient import lenient

log = logging.getLogger("scandepot.retrieve")
JSON = "application/dicom+json"
FOLDER = "dicomweb/metadata"  # under the data folder
BULK_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN", "OB or OW", "OB/OW"})
BULK_THRESHOLD = 1024  # binary values longer than this (bytes) go by BulkDataURI
_PIXEL_DATA = 0x7FE00010
KEEP = 4  # kept files per series (see _prune)
_MARK = "\0ROOT\0"  # stands for the service root in kept files
_MARK_JSON = json.dumps(_MARK)[:-1].encode("ascii")  # '"\u0000ROOT\u0000', opening quote


def _element_json(elem: Any, prefix: str, uri: str) -> dict[str, Any]:
    tag = f"{elem.tag:08X}"
    if elem.VR == "SQ":
        items = [
            _dataset_json(item, f"{prefix}{tag}/{i}/", uri) for i, item in enumerate(elem.value)
        ]
        return {"vr": "SQ", "Value": items} if items else {"vr": "SQ"}
    value = elem.value
    if elem.VR in BULK_VRS and value:
        if elem.tag == _PIXEL_DATA or len(value) > BULK_THRESHOLD:
            vr = "OW" if elem.VR not in ("OB", "OD", "OF", "OL", "OV", "OW", "UN") else elem.VR
            return {"vr": vr, "BulkDataURI": f"{_MARK}{uri}{prefix}{tag}"}
    found: dict[str, Any] = elem.to_json_dict(None, 0)
    return found


def _dataset_json(ds: Dataset, prefix: str, uri: str) -> dict[str, Any]:
    made: dict[str, Any] = {}
    for tag in ds.keys():
        try:
            made[f"{tag:08X}"] = _element_json(ds[tag], prefix, uri)
        except Exception as exc:  # noqa: BLE001 - a value pydicom cannot read or write
            # The element is announced without its value rather than the series failing.
            log.info("element %08X of %s sent without its value: %s", tag, uri, exc)
            made[f"{tag:08X}"] = {"vr": _raw_vr(ds, tag)}
    return made


def _raw_vr(ds: Dataset, tag: int) -> str:
    vr = str(getattr(ds.get_item(tag), "VR", None) or "UN")
    return vr if len(vr) == 2 else "UN"


@lenient()
def instance_json(found: Located) -> dict[str, Any]:
    """One instance in the DICOM JSON model, BulkDataURIs relative to the root."""
    ds = pydicom.dcmread(found.path)
    uri = f"studies/{found.study}/series/{found.series}/instances/{found.sop_instance}/bulkdata/"
    made = _dataset_json(ds, "", uri)
    made["00083002"] = {"vr": "UI", "Value": [found.transfer_syntax]}  # Available TS UID
    return dict(sorted(made.items()))


def _key(series: list[Located]) -> str:
    digest = hashlib.sha256()
    for one in series:
        digest.update(f"{one.sop_instance} {one.sha256}\n".encode("ascii"))
    return digest.hexdigest()


def _folder(ctx: Context, series_uid: str) -> Path:
    named = hashlib.sha256(series_uid.encode("ascii")).hexdigest()
    return ctx.store.data_dir / FOLDER / named[:2] / named


def kept(ctx: Context, series: list[Located]) -> bytes:
    """The series' metadata as a JSON array (the kept file; made and kept if missing)."""
    folder = _folder(ctx, series[0].series)
    path = folder / f"{_key(series)}.json"
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    # Made once in this process: a request arriving while the file is being made (by the
    # thread that follows an archive, or another request) waits for it rather than making
    # it a second time beside it on the same cores.
    with _making(path):
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return _make(ctx, series, folder, path)


_guard = threading.Lock()
_locks: dict[Path, threading.Lock] = {}


@contextmanager
def _making(path: Path) -> Iterator[None]:
    with _guard:
        lock = _locks.setdefault(path, threading.Lock())
    try:
        with lock:
            yield
    finally:
        with _guard:
            if not lock.locked():
                _locks.pop(path, None)


def _make(ctx: Context, series: list[Located], folder: Path, path: Path) -> bytes:
    made = json.dumps([instance_json(one) for one in series], separators=(",", ":"))
    data = made.encode("utf-8")
    ctx.store.write(path, [data], overwrite=True)  # two first requests: either wins
    _prune(ctx, folder, path)
    return data


def _prune(ctx: Context, folder: Path, newest: Path) -> None:
    """Keep the :data:`KEEP` files made last: views of the series that differ (a project's,
    the site's) each keep theirs, and the files of changed series go."""
    others = sorted(
        (p for p in folder.glob("*.json") if p != newest),
        key=_modified,
        reverse=True,
    )
    for old in others[KEEP - 1 :]:
        ctx.store.remove_file(old)


def _modified(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:  # removed meanwhile by another request
        return 0


def _by_series(found: Iterable[Located]) -> list[list[Located]]:
    return [list(group) for _, group in groupby(found, key=lambda one: one.series)]


def _rooted(data: bytes, root: str) -> bytes:
    return data.replace(_MARK_JSON, b'"' + root.encode("utf-8"))


def _joined(arrays: list[bytes]) -> bytes:
    inner = [a[1:-1] for a in arrays if len(a) > 2]
    return b"[" + b",".join(inner) + b"]"


def _check_accept(accept_header: str | None) -> None:
    if not any(
        m.matches(JSON) or m.matches("application/json") for m in accept.parse(accept_header)
    ):
        raise NotAcceptable(
            f"Metadata is sent as {JSON} (application/dicom+xml is not supported).",
            field="Accept",
        )


def metadata(
    ctx: Context,
    scope: Scope,
    root: str,
    study: str,
    series: str | None = None,
    instance: str | None = None,
    *,
    accept_header: str | None = None,
) -> bytes:
    """The metadata of a study, a series or one instance as ``application/dicom+json``;
    ``root`` is the service root the BulkDataURIs start with (ending in ``/``)."""
    _check_accept(accept_header)
    found = locate(ctx, scope, study, series, instance)
    if instance is not None:
        made = json.dumps([instance_json(found[0])], separators=(",", ":"))
        return _rooted(made.encode("utf-8"), root)
    return _rooted(_joined([kept(ctx, one) for one in _by_series(found)]), root)


def warm(ctx: Context, found: list[Located]) -> None:
    """Make the kept metadata of every series in ``found``."""
    for one in _by_series(found):
        kept(ctx, one)
