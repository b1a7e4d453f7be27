"""Raw request bodies streamed to disk (file uploads and archive imports), never held
whole in memory, under the upload size limit."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from scandepot.errors import Invalid, TooLarge

BUFFER = 1024 * 1024  # bytes gathered before each write, so the event loop hands off rarely


def check_declared_length(request: Request, limit: int) -> None:
    declared = request.headers.get("content-length")
    if declared is None:
        return
    if not declared.isdigit():
        raise Invalid("Content-Length must be a number.", field="content-length")
    if int(declared) > limit:
        raise TooLarge(f"The upload is larger than the limit of {limit} bytes.")


async def stream_body(request: Request, write: Callable[[bytes], object], limit: int) -> int:
    """Pass the body to ``write`` (run in a worker thread) in pieces of about
    :data:`BUFFER`; returns its size. Refuses bodies over ``limit`` bytes, declared or not."""
    check_declared_length(request, limit)
    size = 0
    buffer = bytearray()
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"The upload is larger than the limit of {limit} bytes.")
        buffer += chunk
        if len(buffer) >= BUFFER:
            await run_in_threadpool(write, bytes(buffer))
            buffer.clear()
    if buffer:
        await run_in_threadpool(write, bytes(buffer))
    return size
