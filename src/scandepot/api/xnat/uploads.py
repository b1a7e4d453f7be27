"""The file an XNAT client uploads: the request body itself (``inbody=true``, or any body
that is not a form, as xnatpy sends it), or the one file of a ``multipart/form-data`` body
(``curl -F file=@study.zip``). Either way streamed to ``write`` as it arrives, never held
whole in memory, under the upload size limit."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request

from scandepot.api.bodies import stream_body
from scandepot.errors import Invalid
from scandepot.ingest.multipart import Splitter, media_type

FORM = "multipart/form-data"


class _OneFile:
    """The sink of a form: the bytes of its file part to ``write``; other fields skipped."""

    def __init__(self, write: Callable[[bytes], object]) -> None:
        self._write = write
        self._taking = False
        self.files = 0

    def begin(self, headers: dict[str, str]) -> None:
        _, params = media_type(headers.get("content-disposition"))
        self._taking = "filename" in params or "content-type" in headers
        if self._taking:
            self.files += 1
            if self.files > 1:
                raise Invalid(
                    "The form holds more than one file; the import takes one at a time.",
                    field="body",
                )

    def data(self, chunk: memoryview) -> None:
        if self._taking:
            self._write(bytes(chunk))

    def end(self) -> None:
        self._taking = False


async def receive(request: Request, write: Callable[[bytes], object], limit: int) -> int:
    """The uploaded file to ``write``; returns the request body's size."""
    kind, params = media_type(request.headers.get("content-type"))
    if kind != FORM:
        return await stream_body(request, write, limit)
    sink = _OneFile(write)
    splitter = Splitter(params.get("boundary", ""), sink)
    size = await stream_body(request, splitter.feed, limit)
    splitter.close()
    if sink.files == 0:
        raise Invalid("The form holds no file: send it as a file field.", field="body")
    return size
