"""A released version's manifest, exported as JSON (the shape of a download's
manifest.json, export/manifest.py) or as ``sha256sum`` lines (``sha256sum -c``), whose
SHA-256 is the version's ``manifest_sha256``.

It names the files by their paths inside the release (labels as at release), so it is
for the version's readers (its owners and approved users) and its curators, never the
public. Both forms are streamed: a manifest of two million files is not held in memory.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

from scandepot.access import audit
from scandepot.access.actors import Actor
from scandepot.access.audit import AuditAction
from scandepot.access.datasets import DatasetAction, load_version, may, require_dataset
from scandepot.catalog.datasets import DatasetFile, VersionState
from scandepot.context import Context
from scandepot.datasets.release import batches, manifest_lines
from scandepot.errors import Conflict, Invalid
from scandepot.export.manifest import VERSION

FORMATS = ("json", "sha256")
_ENCODE = json.JSONEncoder(ensure_ascii=False).encode


@dataclass(frozen=True, slots=True)
class Manifest:
    dataset: str
    name: str
    number: int
    version_id: int
    released_at: str
    file_count: int
    total_size: int
    manifest_sha256: str
    format: str

    @property
    def filename(self) -> str:
        suffix = "json" if self.format == "json" else "sha256"
        return f"{self.dataset}-v{self.number}.manifest.{suffix}"


def open_manifest(ctx: Context, actor: Actor, ref: str, number: int, fmt: str) -> Manifest:
    """Check who asks and what for; the manifest's head (its body: :func:`body`)."""
    if fmt not in FORMATS:
        raise Invalid(f"format is one of {', '.join(FORMATS)}.", field="format")
    with ctx.db.write() as db:
        dataset, version = load_version(db, actor, ref, number, DatasetAction.VIEW)
        if not may(db, actor, DatasetAction.CURATE, dataset):
            require_dataset(db, actor, DatasetAction.DOWNLOAD, dataset, version)
        if version.state == VersionState.DRAFT or version.released_at is None:
            raise Conflict(f"Version {number} is a draft: it has no manifest yet.", field="version")
        audit.record(
            db,
            actor,
            AuditAction.DATASET_DOWNLOADED,
            target=f"dataset {dataset.stable_id} v{version.number}",
            format=f"manifest.{fmt}",
            files=version.file_count,
        )
        return Manifest(
            dataset=dataset.stable_id,
            name=dataset.name,
            number=version.number,
            version_id=version.id,
            released_at=version.released_at.isoformat().replace("+00:00", "Z"),
            file_count=int(version.file_count or 0),
            total_size=int(version.byte_count or 0),
            manifest_sha256=str(version.manifest_sha256),
            format=fmt,
        )


def body(ctx: Context, head: Manifest) -> Iterator[bytes]:
    """The manifest's bytes, a batch of files at a time, in canonical (path) order."""
    with ctx.db.read() as db:
        if head.format == "sha256":
            yield from manifest_lines(db, head.version_id)
            return
        top = {
            "manifest_version": VERSION,
            "dataset": head.dataset,
            "name": head.name,
            "version": head.number,
            "released_at": head.released_at,
            "file_count": head.file_count,
            "total_size": head.total_size,
            "manifest_sha256": head.manifest_sha256,
        }
        yield f'{_ENCODE(top)[:-1]}, "files": [\n'.encode()
        columns = (DatasetFile.path, DatasetFile.size, DatasetFile.sha256, DatasetFile.md5)
        first = True
        for batch in batches(db, head.version_id, *columns):
            lines = ",\n ".join(
                _ENCODE({"name": p, "size": s, "sha256": sha, "md5": md5})
                for p, s, sha, md5 in batch
            )
            yield (" " if first else ",\n ").encode() + lines.encode()
            first = False
        yield b"\n]}\n"
