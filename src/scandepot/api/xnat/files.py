"""Files of resources, under every path form of their owner (:mod:`.owners`):

    .../resources/{resource}/files           GET: the listing, or (format=zip) the files
                                             as XNAT zips them; PUT/POST: a form upload
    .../resources/{resource}/files/{path}    GET, PUT/POST (inbody=true or a form;
                                             overwrite, extract, format, content), DELETE
    .../experiments/{e}/files                GET: the files of the experiment's resources
    .../experiments/{e}/scans/{scans}/files  GET: the files of one scan, a list (1,2) or
                                             ALL; format=zip streams them

Zips are made by the download code (:mod:`scandepot.export.downloads`) in the layout
XNAT's have (``{session}/scans/{scan}-{type}/resources/{resource}/files/{path}``), without
scandepot's manifests, so that xnatpy's ``download_dir`` unpacks what it expects.
"""

# No `from __future__ import annotations`: see resources.py.
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from scandepot.access.actors import Actor
from scandepot.api.bodies import check_declared_length, stream_body
from scandepot.api.v1.resources import file_response
from scandepot.api.xnat import results
from scandepot.api.xnat.deps import XnatActorDep
from scandepot.api.xnat.owners import EXPERIMENTS, OWNERS
from scandepot.api.xnat.resources import labelled
from scandepot.api.xnat.results import FormatQuery, Table
from scandepot.archive import file_rows, files
from scandepot.archive.file_rows import Listed
from scandepot.archive.resources import OwnerRef
from scandepot.context import Context
from scandepot.errors import Invalid
from scandepot.export import downloads
from scandepot.export.archives import Format
from scandepot.export.downloads import ProjectTarget, ResourceTarget, Target
from scandepot.export.layouts import Layout
from scandepot.export.selection import Selection, scan_choice
from scandepot.http.deps import get_ctx
from scandepot.http.responses import ArchiveResponse
from scandepot.ingest import resource_archive
from scandepot.ingest.form_files import FormFiles
from scandepot.storage.store import StagedFile

COLUMNS = [
    "Name",
    "Size",
    "URI",
    "collection",
    "file_tags",
    "file_format",
    "file_content",
    "cat_ID",
    "digest",
    "path",
]
ARCHIVES = {f.value: f for f in Format}
TextQuery = Annotated[str | None, Query(max_length=255)]
Flag = Annotated[str | None, Query(description="true or false")]

router = APIRouter()


def _true(value: str | None) -> bool:
    return value is not None and value.lower() in ("true", "1", "yes")


def _listing(rows: list[Listed], uri: Callable[[Listed], str]) -> Table:
    return Table.of(
        COLUMNS,
        (
            {
                "Name": PurePosixPath(r.path).name,
                "Size": r.size,
                "URI": uri(r),
                "collection": r.resource,
                "file_tags": "",
                "file_format": r.format,
                "file_content": r.content,
                "cat_ID": r.resource_id,
                "digest": r.md5,
                "path": r.path,
            }
            for r in rows
        ),
        "Files",
    )


def _answer(rows: list[Listed], fmt: str | None, uri: Callable[[Listed], str]) -> Response:
    # columns= is not applied: XNAT answers file listings whole, and pyxnat asks for
    # columns it then reads from other places.
    return results.render(_listing(rows, uri), fmt)


def _zip(ctx: Context, actor: Actor, target: Target, fmt: Format) -> Response:
    download = downloads.prepare(ctx, actor, target, Layout.XNAT, fmt, routes=None)
    return ArchiveResponse(download)


def _under(request: Request, tail: str) -> str:
    """The request's path without ``tail`` (what follows the owner), as the client wrote it."""
    path = request.url.path
    return path[: len(path) - len(tail)] if path.endswith(tail) else path


def _add_file_routes(name: str, prefix: str, dep: Callable[..., OwnerRef]) -> None:
    Ref = Annotated[OwnerRef, Depends(dep)]

    Label = Annotated[str, Depends(labelled(dep))]
    files_path = prefix + "/resources/{resource}/files"

    @router.get(files_path, name=f"xnat_{name}_resource_files")
    def list_files(
        request: Request, actor: XnatActorDep, ref: Ref, label: Label, format: FormatQuery = None
    ) -> Response:
        ctx = get_ctx(request)
        if format in ARCHIVES:
            return _zip(ctx, actor, ResourceTarget(ref, label), ARCHIVES[format])
        base = request.url.path
        rows = file_rows.of_resource(ctx, actor, ref, label)
        return _answer(rows, format, lambda r: f"{base}/{quote(r.path)}")

    @router.head(
        files_path + "/{path:path}", name=f"xnat_{name}_file_head", include_in_schema=False
    )
    def head_file(
        request: Request, actor: XnatActorDep, ref: Ref, label: Label, path: str
    ) -> Response:
        return file_response(request, files.locate(get_ctx(request), actor, ref, label, path))

    @router.get(files_path + "/{path:path}", name=f"xnat_{name}_file")
    def get_file(
        request: Request, actor: XnatActorDep, ref: Ref, label: Label, path: str
    ) -> Response:
        ctx = get_ctx(request)
        found = files.locate(ctx, actor, ref, label, path)
        response = file_response(request, found)
        if response.status_code == 200:
            files.record_download(
                ctx, actor, ref.project, found, range=request.headers.get("range")
            )
        return response

    @router.delete(files_path + "/{path:path}", name=f"xnat_{name}_file_delete")
    def delete_file(
        request: Request, actor: XnatActorDep, ref: Ref, label: Label, path: str
    ) -> Response:
        files.delete(get_ctx(request), actor, ref, label, path)
        return Response(status_code=200)


@dataclass(frozen=True, slots=True)
class Options:
    overwrite: bool
    extract: bool
    format: str | None
    content: str | None


def options(
    overwrite: Flag = None,
    extract: Flag = None,
    format: TextQuery = None,
    content: TextQuery = None,
) -> Options:
    return Options(_true(overwrite), _true(extract), format, content)


OptionsDep = Annotated[Options, Depends(options)]


def _add_upload_routes(name: str, prefix: str, dep: Callable[..., OwnerRef]) -> None:
    Ref = Annotated[OwnerRef, Depends(dep)]
    Label = Annotated[str, Depends(labelled(dep))]
    files_path = prefix + "/resources/{resource}/files"

    @router.put(files_path + "/{path:path}", name=f"xnat_{name}_file_put", status_code=200)
    @router.post(files_path + "/{path:path}", name=f"xnat_{name}_file_post", status_code=200)
    async def put_file(
        request: Request,
        actor: XnatActorDep,
        ref: Ref,
        label: Label,
        path: str,
        opts: OptionsDep,
        inbody: Flag = None,
    ) -> Response:
        await _upload(request, actor, ref, label, path, opts, inbody=_true(inbody))
        return Response(status_code=200)

    @router.put(files_path, name=f"xnat_{name}_files_put", status_code=200)
    @router.post(files_path, name=f"xnat_{name}_files_post", status_code=200)
    async def put_form(
        request: Request, actor: XnatActorDep, ref: Ref, label: Label, opts: OptionsDep
    ) -> Response:
        """A form upload: each file part under its own file name."""
        await _upload(request, actor, ref, label, None, opts, inbody=False)
        return Response(status_code=200)


def _add_experiment_routes(name: str, prefix: str, dep: Callable[..., OwnerRef]) -> None:
    Ref = Annotated[OwnerRef, Depends(dep)]

    @router.get(prefix + "/files", name=f"xnat_{name}_files")
    def experiment_files(
        request: Request, actor: XnatActorDep, ref: Ref, format: FormatQuery = None
    ) -> Response:
        if format in ARCHIVES:
            raise Invalid(
                "Zip the experiment's scans with scans/ALL/files?format=zip, or one of its "
                "resources with resources/{label}/files?format=zip.",
                field="format",
            )
        base = _under(request, "/files")
        rows = file_rows.of_owner(get_ctx(request), actor, ref)
        return _answer(
            rows, format, lambda r: f"{base}/resources/{r.resource}/files/{quote(r.path)}"
        )

    @router.get(prefix + "/scans/{scans}/files", name=f"xnat_{name}_scan_files")
    def scan_files(
        request: Request, actor: XnatActorDep, ref: Ref, scans: str, format: FormatQuery = None
    ) -> Response:
        ctx = get_ctx(request)
        choice = scan_choice([scans])
        assert choice is not None and ref.session is not None
        if format in ARCHIVES:
            selection = Selection(sessions=(ref.session,), scans=choice)
            return _zip(ctx, actor, ProjectTarget(ref.project, selection), ARCHIVES[format])
        base = _under(request, f"/scans/{scans}/files")
        rows = file_rows.of_scans(ctx, actor, ref, choice)
        return _answer(
            rows,
            format,
            lambda r: f"{base}/scans/{r.scan}/resources/{r.resource}/files/{quote(r.path)}",
        )


async def _upload(
    request: Request,
    actor: Actor,
    ref: OwnerRef,
    label: str,
    path: str | None,
    opts: Options,
    *,
    inbody: bool,
) -> None:
    """The body (raw, or a form's files) staged in the store under the size limit, after
    the checks that need no byte of it; then stored all together, or nothing."""
    ctx = get_ctx(request)
    checked = await run_in_threadpool(
        lambda: files.prepare_upload(
            ctx, actor, ref, label, path or "upload", overwrite=opts.overwrite
        )
    )
    limit = ctx.settings.max_upload_bytes
    check_declared_length(request, limit)
    content_type = request.headers.get("content-type", "")
    staged: list[tuple[str, StagedFile]] = []
    form: FormFiles | None = None
    try:
        if content_type.lower().startswith("multipart/form-data") and not inbody:
            form = FormFiles(ctx, content_type)
            await stream_body(request, form.feed, limit)
            parts = await run_in_threadpool(form.finish)
            staged = resource_archive.form_paths(parts, checked if path else None)
        else:
            if path is None:
                raise Invalid("Name the file in the path, or send a form.", field="path")
            body = await run_in_threadpool(ctx.store.stage)
            staged = [(checked, body)]
            await stream_body(request, body.write, limit)
        await run_in_threadpool(
            lambda: resource_archive.store(
                ctx,
                actor,
                ref,
                label,
                staged,
                extract=opts.extract,
                overwrite=opts.overwrite,
                format=opts.format,
                content=opts.content,
            )
        )
    finally:
        for _, item in staged:
            await run_in_threadpool(item.discard)
        if form is not None:
            await run_in_threadpool(form.discard)


for _name, _prefix, _dep, _level in OWNERS:
    _add_file_routes(_name, _prefix, _dep)
    _add_upload_routes(_name, _prefix, _dep)
for _name, _prefix, _dep in EXPERIMENTS:
    _add_experiment_routes(_name, _prefix, _dep)
