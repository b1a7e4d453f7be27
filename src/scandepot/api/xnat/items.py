"""Single objects as XNAT answers them with ``format=json``: the ``items`` shape.

``{"items": [{"data_fields": {...}, "meta": {"xsi:type": ..., ...}, "children": [
{"field": "fields/field", "items": [...]}]}]}``: ``data_fields`` holds the object's own
fields under the names of its XSD type (served at ``/xapi/schemas``), ``children`` its
nested lists (custom fields, scans, resources), each an item of the same shape. xnatpy
reads every object through this shape, so every route builds it here.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import Response

Value = str | int | float | bool | None


@dataclass(slots=True)
class Item:
    xsi_type: str
    data_fields: dict[str, Value]
    children: list[Child] = field(default_factory=list)
    created: dt.datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        meta: dict[str, Any] = {"xsi:type": self.xsi_type, "isHistory": False}
        if self.created is not None:
            meta["start_date"] = self.created.strftime("%a %b %d %H:%M:%S UTC %Y")
        return {
            "children": [c.as_dict() for c in self.children if c.items],
            "meta": meta,
            "data_fields": {k: v for k, v in self.data_fields.items() if v is not None},
        }


@dataclass(slots=True)
class Child:
    field: str  # the XSD path of the list, e.g. "fields/field" or "scans/scan"
    items: list[Item]

    def as_dict(self) -> dict[str, Any]:
        return {"field": self.field, "items": [i.as_dict() for i in self.items]}


def respond(*items: Item) -> Response:
    body = {"items": [i.as_dict() for i in items]}
    return Response(
        json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(),
        media_type="application/json",
    )
