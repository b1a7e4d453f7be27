"""The multipart splitter: parts come out byte for byte whatever the pieces the body
arrives in, including bytes that look like the boundary; broken bodies are refused."""

from __future__ import annotations

import random

import pytest

from scandepot.ingest.multipart import Malformed, Splitter, media_type

B = "sep"


class Parts:
    def __init__(self) -> None:
        self.done: list[tuple[dict[str, str], bytes]] = []
        self.current: tuple[dict[str, str], bytearray] | None = None

    def begin(self, headers: dict[str, str]) -> None:
        self.current = (headers, bytearray())

    def data(self, chunk: memoryview) -> None:
        assert self.current is not None
        self.current[1].extend(chunk)

    def end(self) -> None:
        assert self.current is not None
        self.done.append((self.current[0], bytes(self.current[1])))
        self.current = None


def split(body: bytes, pieces: list[int]) -> Parts:
    parts = Parts()
    splitter = Splitter(B, parts)
    at = 0
    for size in pieces:
        splitter.feed(body[at : at + size])
        at += size
    splitter.feed(body[at:])
    splitter.close()
    return parts


TRICKY = [
    b"",
    b"--sep",  # the boundary, but not after a line break
    b"\r\n--se",  # a line break and most of the delimiter
    b"\r\n--sepx but longer",  # RFC 2046 forbids it; still data here
    bytes(range(256)) * 40,
]


def body_of(contents: list[bytes]) -> bytes:
    out = b"".join(
        b"\r\n--sep\r\nContent-Type: application/dicom\r\nX-Other:  spaced value \r\n\r\n" + c
        for c in contents
    )
    return out + b"\r\n--sep--\r\n"


@pytest.mark.parametrize("seed", range(20))
def test_parts_come_out_whole_whatever_the_pieces(seed: int) -> None:
    rng = random.Random(seed)
    contents = rng.sample(TRICKY, len(TRICKY)) + [rng.randbytes(rng.randrange(5000))]
    body = body_of(contents)
    pieces = [rng.randrange(1, 40) for _ in range(rng.randrange(200))]
    parts = split(body, pieces)
    assert [data for _, data in parts.done] == contents
    assert parts.done[0][0] == {"content-type": "application/dicom", "x-other": "spaced value"}


def test_truncated_bodies_are_refused_wherever_they_stop() -> None:
    body = body_of([b"abc" * 100, b"def" * 100])
    for cut in range(1, len(body) - len(b"--\r\n")):
        parts = Parts()
        splitter = Splitter(B, parts)
        splitter.feed(body[:cut])
        with pytest.raises(Malformed):
            splitter.close()
        # A part that ended is whole: it ended at its own delimiter, never at the cut.
        assert all(data in (b"abc" * 100, b"def" * 100) for _, data in parts.done)


def test_headers_and_preamble_are_bounded() -> None:
    with pytest.raises(Malformed, match="No multipart boundary"):
        split(b"x" * 70_000, [])
    many = b"--sep\r\n" + b"".join(b"H%d: v\r\n" % n for n in range(40)) + b"\r\n"
    with pytest.raises(Malformed):
        split(many + b"data\r\n--sep--", [])
    with pytest.raises(Malformed):
        Splitter("", Parts())


def test_media_type_parameters() -> None:
    kind, params = media_type('Multipart/Related; TYPE="application/dicom"; Boundary="a b"')
    assert kind == "multipart/related"
    assert params == {"type": "application/dicom", "boundary": "a b"}
    assert media_type(None) == ("", {})
