"""An uploaded zip or tar unpacked into a resource (XNAT's ``extract=true``).

The archive is read by :mod:`scandepot.ingest.unpack` (links, absolute paths, ``..``
names, damaged archives and zip bombs refuse it whole); every member is staged, and all
of them are published and catalogued in one transaction
(:func:`scandepot.archive.files.commit_uploads`): an archive refused half-way, or a member
refused by the path rules, leaves nothing behind.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from scandepot.access.actors import Actor
from scandepot.archive import files
from scandepot.archive.resources import OwnerRef
from scandepot.catalog.labels import check_file_path
from scandepot.context import Context
from scandepot.errors import Invalid
from scandepot.ingest import unpack
from scandepot.storage.store import StagedFile

# The names XNAT unpacks when asked to extract; any other upload is stored as it is.
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")


def is_archive_name(path: str) -> bool:
    return path.lower().endswith(ARCHIVE_SUFFIXES)


def _limits(ctx: Context) -> unpack.Limits:
    return unpack.Limits(
        max_expanded_bytes=ctx.settings.import_max_expanded_bytes,
        max_ratio=ctx.settings.import_max_ratio,
        max_members=ctx.settings.import_max_members,
    )


def _member_path(folder: PurePosixPath, name: str) -> str:
    try:
        return check_file_path(str(folder / name.rstrip("/")))
    except Invalid as exc:
        raise Invalid(f"Archive member '{name}': {exc.args[0]}", field="body") from None


def _stage_members(ctx: Context, body: Path, folder: PurePosixPath) -> list[tuple[str, StagedFile]]:
    staged: list[tuple[str, StagedFile]] = []
    seen: set[str] = set()
    try:
        for member in unpack.members(body, unpack.sniff(body), _limits(ctx)):
            if isinstance(member, str):  # left by an operating system: not data
                continue
            path = _member_path(folder, member.name)
            if path in seen:
                raise Invalid(f"The archive holds '{member.name}' twice.", field="body")
            seen.add(path)
            target = ctx.store.stage()
            staged.append((path, target))
            for chunk in member.chunks():
                target.write(chunk)
    except BaseException:
        for _, target in staged:
            target.discard()
        raise
    return staged


def extract_archive(
    ctx: Context,
    actor: Actor,
    ref: OwnerRef,
    resource: str,
    path: str,
    body: Path,
    *,
    overwrite: bool = False,
    format: str | None = None,
    content: str | None = None,
) -> list[files.UploadResult]:
    """Unpack the archive ``body`` (uploaded as ``path``) into the resource, in the folder
    of ``path``; all its files or none."""
    folder = PurePosixPath(path).parent
    staged = _stage_members(ctx, body, folder)
    try:
        if not staged:
            raise Invalid(f"The archive '{path}' holds no files.", field="body")
        return files.commit_uploads(
            ctx,
            actor,
            ref,
            resource,
            staged,
            overwrite=overwrite,
            format=format,
            content=content,
        )
    finally:
        for _, target in staged:
            target.discard()


def form_paths(
    parts: list[tuple[str, StagedFile]], path: str | None
) -> list[tuple[str, StagedFile]]:
    """A form's files under their paths in the resource: ``path`` for a form of one file;
    otherwise each under its own file name, in the folder of ``path`` if one was given."""
    if path is not None and len(parts) == 1:
        return [(check_file_path(path), parts[0][1])]
    folder = PurePosixPath(path).parent if path is not None else PurePosixPath(".")
    named = [(check_file_path(str(folder / name)), item) for name, item in parts]
    if len({n for n, _ in named}) != len(named):
        raise Invalid("The form holds two files of the same name.", field="body")
    return named


def store(
    ctx: Context,
    actor: Actor,
    ref: OwnerRef,
    resource: str,
    staged: list[tuple[str, StagedFile]],
    *,
    extract: bool = False,
    overwrite: bool = False,
    format: str | None = None,
    content: str | None = None,
) -> list[files.UploadResult]:
    """Staged uploads into the resource, all or none: with ``extract`` an archive (by its
    name, as XNAT decides) is unpacked, any other file stored as it is."""
    archives = [(p, s) for p, s in staged if extract and is_archive_name(p)]
    if not archives:
        return files.commit_uploads(
            ctx, actor, ref, resource, staged, overwrite=overwrite, format=format, content=content
        )
    if len(archives) > 1 or len(staged) > 1:
        raise Invalid("Extract one archive at a time, sent alone.", field="body")
    path, body = archives[0]
    body.finish()
    return extract_archive(
        ctx,
        actor,
        ref,
        resource,
        path,
        body.tmp_path,
        overwrite=overwrite,
        format=format,
        content=content,
    )
