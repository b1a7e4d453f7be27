"""Responses made of bytes and whole files, sent without copies where the server allows.

An archive download (a tar or zip) and a DICOMweb retrieval (a multipart body of stored
instances) are mostly whole files. Where the server announces the ASGI zero-copy send
extension (``http.response.zerocopysend``; ``scandepot serve`` does, see
:mod:`scandepot.http.server`) those files go from the page cache to the socket without
being read into Python; elsewhere (a test client, another server) the same body is read
chunk by chunk. A body whose length is known up front is sent with ``Content-Length``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from scandepot.export.archives import Opened
from scandepot.export.downloads import Download

ZEROCOPY = "http.response.zerocopysend"


class FileBody(Protocol):
    """A body of bytes and opened files: :meth:`parts` for a server that sends files
    itself (only when :attr:`sends_files`), :meth:`stream` for any other."""

    @property
    def length(self) -> int | None: ...

    @property
    def sends_files(self) -> bool: ...

    def stream(self) -> AsyncIterator[bytes]: ...

    def parts(self) -> AsyncIterator[bytes | Opened]: ...


class FileBodyResponse(StreamingResponse):
    def __init__(
        self,
        body: FileBody,
        *,
        media_type: str,
        headers: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> None:
        headers = dict(headers or {})
        if body.length is not None:
            headers["content-length"] = str(body.length)
        super().__init__(
            body.stream(), status_code=status_code, media_type=media_type, headers=headers
        )
        self.body_parts = body
        self.zero_copy = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.zero_copy = self.body_parts.sends_files and ZEROCOPY in scope.get("extensions", {})
        await super().__call__(scope, receive, send)

    async def stream_response(self, send: Send) -> None:
        if not self.zero_copy:
            await super().stream_response(send)
            return
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        async for part in self.body_parts.parts():
            if isinstance(part, Opened):
                message = {"file": part.file, "offset": part.offset, "count": part.size}
                await send({"type": ZEROCOPY, **message, "more_body": True})
            else:
                await send({"type": "http.response.body", "body": part, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


class ArchiveResponse(FileBodyResponse):
    def __init__(self, download: Download) -> None:
        headers = {"content-disposition": f'attachment; filename="{download.filename}"'}
        super().__init__(download, media_type=download.format.media_type, headers=headers)
        self.download = download
