"""What a search asks (:class:`Query`) and what one page of it holds (:class:`Page`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from pydicom import Dataset

from scandepot.query.attributes import Level


@dataclass(frozen=True)
class Query:
    """A search at ``level``: ``matches`` maps keywords to DICOM values as given
    (``DOE*``, ``20240101-20240131``, ``1.2.3\\1.2.4``); ``study`` and ``series`` limit
    it to one study or series (the path of a QIDO-RS request); ``include`` names further
    attributes to return, or "all" of the level's; ``fuzzy`` turns on fuzzy matching of
    person names; ``limit`` (None: no limit but :data:`MAX_RESULTS` for a page) and
    ``offset`` page the results."""

    level: Level
    matches: Mapping[str, str] = field(default_factory=dict)
    study: str | None = None
    series: str | None = None
    include: frozenset[str] | Literal["all"] = frozenset()
    fuzzy: bool = False
    limit: int | None = None
    offset: int = 0


@dataclass(frozen=True)
class Page:
    results: list[Dataset]
    more: bool  # matches beyond this page remain
