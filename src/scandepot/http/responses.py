"""The archive download response, sent without copies where the server allows.

A tar or zip has its length up front; where the server announces the ASGI zero-copy send
extension (``http.response.zerocopysend``; ``scandepot serve`` does, see
:mod:`scandepot.http.server`) its files go from the page cache to the socket without
being read into Python. A tar.gz is compressed in Python, chunk by chunk.
"""

from __future__ import annotations

from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from scandepot.export.archives import Opened
from scandepot.export.downloads import Download

ZEROCOPY = "http.response.zerocopysend"


class ArchiveResponse(StreamingResponse):
    def __init__(self, download: Download) -> None:
        headers = {"content-disposition": f'attachment; filename="{download.filename}"'}
        if download.length is not None:
            headers["content-length"] = str(download.length)
        super().__init__(download.stream(), media_type=download.format.media_type, headers=headers)
        self.download = download
        self.zero_copy = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.zero_copy = self.download.length is not None and ZEROCOPY in scope.get(
            "extensions", {}
        )
        await super().__call__(scope, receive, send)

    async def stream_response(self, send: Send) -> None:
        if not self.zero_copy:
            await super().stream_response(send)
            return
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        async for part in self.download.parts():
            if isinstance(part, Opened):
                message = {"file": part.file, "offset": 0, "count": part.size}
                await send({"type": ZEROCOPY, **message, "more_body": True})
            else:
                await send({"type": "http.response.body", "body": part, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
