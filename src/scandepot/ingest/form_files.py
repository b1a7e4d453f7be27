"""Files sent as ``multipart/form-data`` (an HTML form, ``curl -F``), each part that
carries a file name staged in the store as it arrives, never held in memory."""

from __future__ import annotations

from scandepot.context import Context
from scandepot.errors import Invalid
from scandepot.ingest.multipart import Splitter, media_type
from scandepot.storage.store import StagedFile


class FormFiles:
    """:meth:`feed` the body, :meth:`finish`, then take :attr:`files`; :meth:`discard`
    always (it removes what was staged and not published)."""

    def __init__(self, ctx: Context, content_type: str) -> None:
        kind, params = media_type(content_type)
        boundary = params.get("boundary")
        if kind != "multipart/form-data" or not boundary:
            raise Invalid("A form upload is multipart/form-data with a boundary.", field="body")
        self._ctx = ctx
        self._splitter = Splitter(boundary, self)
        self._current: StagedFile | None = None
        self.files: list[tuple[str, StagedFile]] = []

    def feed(self, data: bytes) -> None:
        self._splitter.feed(data)

    def finish(self) -> list[tuple[str, StagedFile]]:
        self._splitter.close()
        if not self.files:
            raise Invalid("The form holds no file.", field="body")
        return self.files

    def discard(self) -> None:
        for _, staged in self.files:
            staged.discard()

    # -- the Sink of the splitter ---------------------------------------------------------

    def begin(self, headers: dict[str, str]) -> None:
        _, params = media_type(headers.get("content-disposition"))
        name = params.get("filename")
        if name is None:
            self._current = None
            return
        self._current = self._ctx.store.stage()
        self.files.append((name.replace("\\", "/").rsplit("/", 1)[-1], self._current))

    def data(self, chunk: memoryview) -> None:
        if self._current is not None:
            self._current.write(chunk)

    def end(self) -> None:
        self._current = None
