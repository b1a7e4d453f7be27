"""The catalogue's search terms of a published version, stored with its aggregates as one
string, ``|k:mri|m:MR|b:BRAIN|w:brain|w:cohort|``: keywords (``k:``, lower case),
modalities (``m:``) and body parts (``b:``, upper case, as DICOM writes them), and the
words of the title, description, keywords, conditions and body parts (``w:``, lower
case).

The catalogue filters with LIKE on the stored JSON's text (:func:`pattern`), which both
catalogs scan without parsing the JSON of each version: a search stays fast however large
the aggregates grow. The text is JSON as stored, so :func:`pattern` escapes a term the way
the JSON encoder did (``é`` is ``\\u00e9`` there).
"""

from __future__ import annotations

import json
import re
from typing import Any

KEY = "search"
KEYWORD, MODALITY, BODY_PART, WORD = "k:", "m:", "b:", "w:"
_WORD = re.compile(r"\w+")


def build(meta: dict[str, Any], aggregates: dict[str, Any]) -> str:
    keywords = [_clean(k).lower() for k in _listed(meta.get("keywords"))]
    text = [
        str(meta.get("title") or ""),
        str(meta.get("description") or ""),
        *keywords,
        *map(str, _listed(meta.get("conditions"))),
        *map(str, _listed(meta.get("body_parts"))),
    ]
    terms = [KEYWORD + k for k in keywords]
    terms += [MODALITY + _clean(v).upper() for v in values(aggregates, "modalities")]
    body_parts = values(aggregates, "body_parts")
    body_parts += [str(b) for b in _listed(meta.get("body_parts"))]
    terms += [BODY_PART + _clean(b).upper() for b in body_parts]
    terms += [WORD + w for w in words(" ".join(text))]
    unique = sorted({t for t in terms if len(t) > 2})
    return "|" + "|".join(unique) + "|"


def values(aggregates: dict[str, Any], key: str) -> list[str]:
    """The values of an imaging distribution (modalities, body parts, ...), counted or not."""
    found = aggregates.get(key) or {}
    return [str(v) for v in found.get("values") or []] if isinstance(found, dict) else []


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def patterns(kind: str, term: str, *, whole: bool = True) -> set[str]:
    """What to find in the stored JSON text: ``|kind:term|`` (``|kind:term`` for a word's
    start), as the JSON encoder wrote it: with non-ASCII letters escaped (Python's
    default) or as they are (an encoder told otherwise); either matches."""
    found = set()
    for ascii_only in (True, False):
        encoded = json.dumps(_clean(term), ensure_ascii=ascii_only)[1:-1]
        found.add(f"|{kind}{encoded}|" if whole else f"|{kind}{encoded}")
    return found


def _clean(value: Any) -> str:
    return str(value).strip().replace("|", " ")


def _listed(value: Any) -> list[Any]:
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str | int | float) and str(v).strip()]
    return []
