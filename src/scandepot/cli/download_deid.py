"""``scandepot download --deid``: a selection de-identified by the project's export
script, fetched as one stream and unpacked into DEST as it arrives.

A de-identified file is made by the server as it is sent, so it has no route of its own
to fetch it again or resume it from: the selection comes as one tar (the ``deid=true``
download route), each member written under ``DEST/.scandepot/partial/`` and moved to its
place, hashed on the way. The manifest comes last in the archive (the checksums are known
only once the files are made); every file is then checked against it, and one that does
not match is removed. A stream cut short has no manifest, so nothing can be checked: the
command says so and exits 1; run it again (the same selection gives the same
de-identified files under the same names).

Refused instances (burned-in annotation, refused by the script) are listed in the
manifest (``refused``) and counted on stderr; they are not an error.
"""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import typer

from scandepot.cli.remote import CHUNK, Incomplete, Refused, Remote, error_message

MANIFEST = "manifest.json"
SUMS = "manifest.sha256"


class _Stream:
    """The response body as a file that tarfile reads front to back (mode ``r|``)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            chunk = next(self._chunks, b"")
            if not chunk:
                break
            self._buffer += chunk
        if size < 0:
            size = len(self._buffer)
        out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out


def fetch(
    remote: Remote,
    project: str,
    params: dict[str, Any],
    dest: Path,
    target: Any,
) -> None:
    """Fetch and unpack the de-identified selection; ``target(dest, name)`` is where a
    member goes (it refuses unsafe names). Raises :class:`Refused` (exit 2) or
    :class:`Incomplete` (exit 1)."""
    params = {**params, "deid": "true", "format": "tar"}
    partial = dest / ".scandepot" / "partial"
    partial.mkdir(parents=True, exist_ok=True)
    got: dict[str, str] = {}
    meta: dict[str, bytes] = {}
    with remote.client(connections=1) as client:
        try:
            with client.stream(
                "GET", f"/api/v1/projects/{project}/download", params=params
            ) as response:
                if response.status_code != 200:
                    response.read()
                    raise Refused(error_message(response))
                _unpack(response.iter_bytes(CHUNK), dest, partial, target, got, meta)
        except (httpx.TransportError, tarfile.ReadError) as exc:
            raise Incomplete(f"the download was cut short ({exc}); run again") from None
    _check(dest, target, got, meta)


def _unpack(
    chunks: Iterator[bytes],
    dest: Path,
    partial: Path,
    target: Any,
    got: dict[str, str],
    meta: dict[str, bytes],
) -> None:
    with tarfile.open(fileobj=_Stream(chunks), mode="r|") as archive:  # type: ignore[call-overload]
        for member in archive:
            source = archive.extractfile(member) if member.isfile() else None
            if source is None:
                continue
            if member.name in (MANIFEST, SUMS):
                meta[member.name] = source.read()
                continue
            final = target(dest, member.name)
            part = partial / hashlib.sha256(member.name.encode()).hexdigest()[:40]
            digest = hashlib.sha256()
            with open(part, "wb") as out:
                while chunk := source.read(CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(part, final)
            got[member.name] = digest.hexdigest()


def _check(dest: Path, target: Any, got: dict[str, str], meta: dict[str, bytes]) -> None:
    if MANIFEST not in meta:
        raise Incomplete("the archive ended before its manifest; run again")
    manifest = json.loads(meta[MANIFEST])
    listed = {f["name"]: f["sha256"] for f in manifest["files"]}
    bad = [n for n in listed if got.get(n) != listed[n]] + [n for n in got if n not in listed]
    for name in bad:
        target(dest, name).unlink(missing_ok=True)
        typer.echo(f"not as the manifest says (removed, run again): {name}", err=True)
    (dest / MANIFEST).write_bytes(meta[MANIFEST])
    if SUMS in meta:
        (dest / SUMS).write_bytes(meta[SUMS])
    refused, left_out = manifest.get("refused", []), manifest.get("left_out", [])
    if refused:
        typer.echo(f"{len(refused)} instance(s) refused (see refused in manifest.json)", err=True)
    if left_out:
        files = sum(r["files"] for r in left_out)
        typer.echo(f"{files} file(s) that are not DICOM left out (see left_out)", err=True)
    if bad:
        raise Incomplete(f"{len(bad)} file(s) not verified")
    typer.echo(f"OK: {len(listed)} de-identified files verified in {dest}")
