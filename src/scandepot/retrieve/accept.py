"""The ``Accept`` header of a retrieval: the media ranges (RFC 9110 §12.5.1) with their
``type`` and ``transfer-syntax`` parameters (PS3.18 §8.7), best first."""

from __future__ import annotations

import re
from dataclasses import dataclass

from scandepot.errors import BadRequest

# A media range, then parameters; a parameter's value is a token or a quoted string.
_PARAM = re.compile(r';\s*([!#$%&\'*+.^_`|~0-9A-Za-z-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;,\s]*)\s*')
_RANGE = re.compile(r"\s*([!#$%&'*+.^_`|~0-9A-Za-z-]+/[!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*")


@dataclass(frozen=True, slots=True)
class MediaRange:
    media_type: str  # e.g. "multipart/related", "*/*", "image/jpeg"; lower case
    params: dict[str, str]
    q: float = 1.0

    @property
    def part_type(self) -> str | None:
        """The ``type`` parameter of a multipart range (the media type of its parts)."""
        found = self.params.get("type")
        return found.lower() if found else None

    @property
    def transfer_syntax(self) -> str | None:
        return self.params.get("transfer-syntax")

    def matches(self, media_type: str) -> bool:
        """Whether the range covers ``media_type`` (wildcards included)."""
        if self.media_type == "*/*":
            return True
        kind, _, sub = self.media_type.partition("/")
        return self.media_type == media_type or (sub == "*" and media_type.startswith(kind + "/"))


def _split(header: str) -> list[str]:
    """The comma-separated elements, commas inside quoted strings kept."""
    items: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in header:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            items.append("".join(current))
            current = []
            continue
        current.append(char)
    items.append("".join(current))
    return [item for item in items if item.strip()]


def _range(text: str) -> MediaRange:
    head = _RANGE.match(text)
    if head is None:
        raise BadRequest(
            f"The Accept header holds '{text.strip()}', not a media range.", field="Accept"
        )
    params: dict[str, str] = {}
    rest = text[head.end() :]
    while rest.strip():
        found = _PARAM.match(rest)
        if found is None:
            raise BadRequest(
                f"The Accept header's parameters '{rest.strip()}' are malformed.", field="Accept"
            )
        name, value = found.group(1).lower(), found.group(2)
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        params[name] = value
        rest = rest[found.end() :]
    q = 1.0
    if "q" in params:
        try:
            q = float(params.pop("q"))
        except ValueError:
            raise BadRequest(
                "The Accept header holds a weight that is no number.", field="Accept"
            ) from None
    return MediaRange(head.group(1).lower(), params, q)


def parse(header: str | None) -> list[MediaRange]:
    """The ranges of an ``Accept`` header by weight, best first, those of weight 0 left
    out; an absent or empty header accepts anything (``*/*``)."""
    if header is None or not header.strip():
        return [MediaRange("*/*", {})]
    ranges = [_range(item) for item in _split(header)]
    ranges = [r for r in ranges if r.q > 0]
    return sorted(ranges, key=lambda r: -r.q)  # stable: the order given breaks ties
