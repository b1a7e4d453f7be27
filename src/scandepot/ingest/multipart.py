"""A multipart body (RFC 2046, RFC 2387 multipart/related) split into parts as it arrives.

The body is fed in pieces of any size; each part's headers are handed to the sink once
they are complete, and its bytes as they come, slices of the pieces fed (nothing of a
part is gathered in memory). python-multipart's streaming parser finds the boundaries;
this module adds what a DICOMweb body needs beyond it: a preamble before the first
boundary is skipped (RFC 2046 5.1.1), the part headers are bounded, and a body that ends
before its closing boundary is refused, so that a truncated last part is never taken for
a complete one.
"""

from __future__ import annotations

from typing import Protocol

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from scandepot.errors import ScandepotError

MAX_BOUNDARY = 200
MAX_PREAMBLE = 64 * 1024  # bytes skipped before the first boundary, at most
MAX_PART_HEADERS = 32  # header lines of one part
MAX_HEADER_BYTES = 8 * 1024  # bytes of one header line


class Malformed(ScandepotError):
    """The body is not the multipart message its Content-Type announces (HTTP 400)."""

    code = "bad_request"
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message, field="body")


class Sink(Protocol):
    """Where the parts go: a part begins (with its headers, names in lower case), its
    bytes arrive in order, it ends. A part that ends is complete."""

    def begin(self, headers: dict[str, str]) -> None: ...

    def data(self, chunk: memoryview) -> None: ...

    def end(self) -> None: ...


def media_type(value: str | None) -> tuple[str, dict[str, str]]:
    """A Content-Type value as (type in lower case, parameters with names in lower case)."""
    kind, params = parse_options_header(value or "")
    return kind.decode("latin-1").strip(), {
        k.decode("latin-1").lower().strip(): v.decode("latin-1").strip() for k, v in params.items()
    }


class Splitter:
    """Feed it the body with :meth:`feed`, then :meth:`close` it."""

    def __init__(self, boundary: str, sink: Sink) -> None:
        # RFC 2046 allows 70 characters; Orthanc 1.10's STOW client sends 73: be lenient.
        if not boundary or len(boundary) > MAX_BOUNDARY or not boundary.isascii():
            raise Malformed(f"The multipart boundary must be 1 to {MAX_BOUNDARY} ASCII characters.")
        self._sink = sink
        self._delimiter = b"--" + boundary.encode("ascii")
        self._preamble: bytearray | None = bytearray()  # until the first boundary is found
        self._field = bytearray()
        self._value = bytearray()
        self._headers: dict[str, str] = {}
        self._in_part = False
        self._ended = False
        try:
            self._parser = MultipartParser(
                boundary.encode("ascii"),
                {
                    "on_part_begin": self._on_part_begin,
                    "on_header_field": self._on_header_field,
                    "on_header_value": self._on_header_value,
                    "on_header_end": self._on_header_end,
                    "on_headers_finished": self._on_headers_finished,
                    "on_part_data": self._on_part_data,
                    "on_part_end": self._on_part_end,
                    "on_end": self._on_end,
                },
                max_header_count=MAX_PART_HEADERS,
                max_header_size=MAX_HEADER_BYTES,
            )
        except Exception as exc:  # noqa: BLE001 - the parser refuses a boundary it cannot use
            raise Malformed(f"Unusable multipart boundary: {exc}") from None

    @property
    def in_part(self) -> bool:
        """A part has begun and not yet ended."""
        return self._in_part

    def feed(self, data: bytes) -> None:
        if self._ended:
            return  # the epilogue after the closing boundary: ignored (RFC 2046)
        if self._preamble is not None:
            found = self._skip_preamble(data)
            if found is None:
                return
            data = found
        try:
            self._parser.write(data)
        except MultipartParseError as exc:
            raise Malformed(f"The multipart body is malformed: {exc}") from None

    def _skip_preamble(self, data: bytes) -> bytes | None:
        """The body from its first boundary on, once it has arrived; None until then."""
        assert self._preamble is not None
        self._preamble += data
        at = self._preamble.find(self._delimiter)
        while at > 0 and (at < 2 or self._preamble[at - 2 : at] != b"\r\n"):
            at = self._preamble.find(self._delimiter, at + 1)  # not at the start of a line
        if at < 0:
            if len(self._preamble) > MAX_PREAMBLE + len(self._delimiter):
                raise Malformed(
                    "No multipart boundary in the first "
                    f"{MAX_PREAMBLE} bytes: the body is not the multipart message its "
                    "Content-Type announces."
                )
            return None
        rest = bytes(self._preamble[at:])
        self._preamble = None
        return rest

    def close(self) -> None:
        """The body has ended: refused unless its closing boundary came."""
        if not self._ended:
            if self._preamble is not None:
                raise Malformed("The body holds no multipart boundary.")
            raise Malformed(
                "The multipart body ends before its closing boundary: the last part is "
                "truncated. Nothing of the request was stored."
            )

    def _on_part_begin(self) -> None:
        self._headers = {}
        self._field.clear()
        self._value.clear()

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _on_header_end(self) -> None:
        name = self._field.decode("latin-1").strip().lower()
        self._headers[name] = self._value.decode("latin-1").strip()
        self._field.clear()
        self._value.clear()

    def _on_headers_finished(self) -> None:
        self._in_part = True
        self._sink.begin(self._headers)

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        self._sink.data(memoryview(data)[start:end])

    def _on_part_end(self) -> None:
        self._in_part = False
        self._sink.end()

    def _on_end(self) -> None:
        self._ended = True
