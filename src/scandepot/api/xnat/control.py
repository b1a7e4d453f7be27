"""Query parameters of a ``PUT`` that say how to make a change (its format, the reason
logged with it, XNAT's CSRF field) rather than name a field to change: every object's
field reader passes over them."""

from __future__ import annotations

CONTROL = frozenset(
    {
        "xsitype",
        "req_format",
        "format",
        "event_reason",
        "event_type",
        "event_action",
        "event_comment",
        "event_id",
        "allowdatadeletion",
        "xnat_csrf",
    }
)
