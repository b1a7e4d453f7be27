"""``/data/archive/...`` is XNAT's longer name of ``/data/...`` (and ``/REST/archive/...``
of ``/REST/...``): xnatpy builds every URL of the archive so (``/data/archive/projects``).
The request is routed as if it had come by the short name, so that every route of the
data root answers to both without being declared twice."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

_ALIASES = ((b"/data/archive", b"/data"), (b"/REST/archive", b"/REST"))


def _shorter(raw: bytes) -> bytes | None:
    for long, short in _ALIASES:
        if raw == long or raw.startswith(long + b"/"):
            return short + raw[len(long) :]
    return None


class ArchiveAlias:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = _shorter(scope["path"].encode())
            if path is not None:
                raw = _shorter(scope.get("raw_path") or scope["path"].encode()) or path
                scope = dict(scope, path=path.decode(), raw_path=raw)
        await self.app(scope, receive, send)
