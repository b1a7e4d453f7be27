"""Limits on request heads and bodies, enforced before the application reads them.

A head larger than ``max_header_bytes`` is refused with 431 (the server's own parser
limit guards against heads that never end; this one is exact whatever the parser).

File uploads (PUT .../files/...), archive imports (POST /api/v1/projects/P/import) and
STOW-RS requests (POST /dicomweb[/projects/P]/studies[/S])
stream to disk and enforce their own, larger limit; every other body is JSON or a form and
may not exceed ``max_request_bytes``.
"""

from __future__ import annotations

import re

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from scandepot.http.errors import Problem, error_response

STREAMED = {
    "PUT": re.compile(r"/resources/[^/]+/files/."),  # a file, into a resource
    # an archive to import; DICOM instances to store (STOW-RS, under both roots)
    "POST": re.compile(
        r"^/api/v1/projects/[^/]+/import$|^/dicomweb(?:/projects/[^/]+)?/studies(?:/[^/]+)?$"
    ),
}


class BodyTooLarge(HTTPException):
    """Raised from ``receive``; an HTTPException so that body parsing passes it on and the
    app's error mapping answers 413 in the usual shape."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body is larger than {limit} bytes.")


class RequestLimits:
    def __init__(self, app: ASGIApp, *, max_bytes: int, max_header_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_header_bytes = max_header_bytes

    @staticmethod
    def _head_size(scope: Scope) -> int:
        line = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
        return line + sum(len(name) + len(value) + 4 for name, value in scope["headers"])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self._head_size(scope) > self.max_header_bytes:
            too_long = f"The request line and headers exceed {self.max_header_bytes} bytes."
            response = error_response(Problem(431, "headers_too_large", too_long))
            await response(scope, receive, send)
            return
        streamed = STREAMED.get(scope.get("method", "")) if scope["type"] == "http" else None
        if scope["type"] != "http" or (streamed and streamed.search(scope["path"])):
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await self._refuse(scope, receive, send)
                return

        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if started:
                raise
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        too_large = f"The request body is larger than {self.max_bytes} bytes."
        response = error_response(Problem(413, "too_large", too_large))
        await response(scope, receive, send)
