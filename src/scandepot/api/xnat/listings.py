"""What every XNAT listing of archived objects shares."""

from __future__ import annotations


def with_uri(columns: str | None) -> str | None:
    """``columns=`` as XNAT answers it: the ``URI`` column comes with whatever is asked
    (pyxnat reads it from every row, even when it asked for ``ID,xsiType`` alone)."""
    if not columns:
        return columns
    names = [c.strip() for c in columns.split(",") if c.strip()]
    if "uri" not in (n.lower() for n in names):
        names.append("URI")
    return ",".join(names)
