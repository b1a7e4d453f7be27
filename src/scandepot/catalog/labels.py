"""The rules for labels and for file paths inside a resource."""

from __future__ import annotations

import re
import unicodedata
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, SQLColumnExpression, func, select
from sqlalchemy.orm import Session as DBSession

from scandepot.catalog.archive import Session, Subject
from scandepot.errors import Invalid

Labelled = TypeVar("Labelled", Subject, Session)
Query = TypeVar("Query", bound=Select[Any])

LABEL_RULE = "letters, digits, '-' and '_', at most 64 characters"
_LABEL = re.compile(r"[A-Za-z0-9_-]{1,64}")

PATH_MAX = 1024
PATH_PART_MAX = 255


def check_label(value: object, *, field: str = "label") -> str:
    """Return ``value`` if it is a valid label; otherwise raise :class:`Invalid` naming the rule."""
    if not isinstance(value, str) or not _LABEL.fullmatch(value):
        shown = value if isinstance(value, str) and len(value) <= 80 else None
        detail = f" (got {shown!r})" if shown is not None else ""
        raise Invalid(f"{field} must be {LABEL_RULE}{detail}.", field=field)
    return value


def same_label(column: SQLColumnExpression[str], label: str) -> ColumnElement[bool]:
    """The one rule every look-up by label follows: labels compare ignoring case, as
    :func:`label_taken` keeps them unique (a relabel from ``ses-01`` to ``SES-01`` still
    answers to ``ses-01``)."""
    return func.lower(column) == label.lower()


def by_label(stmt: Query, column: SQLColumnExpression[str], label: str) -> Query:
    """``stmt`` narrowed to the one row that ``label`` names under :func:`same_label`.
    Should rows differing only in case exist from before, the exact spelling is taken."""
    return stmt.where(same_label(column, label)).order_by(column != label).limit(1)


def label_taken(
    db: DBSession,
    id_column: SQLColumnExpression[Any],
    label_column: SQLColumnExpression[str],
    scope: ColumnElement[bool],
    label: str,
    *,
    exclude: int | None = None,
) -> bool:
    """Whether another row under ``scope`` has ``label``, ignoring case: labels name
    folders, and folders differing only in case collide on case-insensitive file systems.
    ``exclude`` is the row being relabelled (it may change only the case of its label)."""
    stmt = select(id_column).where(scope, same_label(label_column, label))
    if exclude is not None:
        stmt = stmt.where(id_column != exclude)
    return db.scalar(stmt.limit(1)) is not None


def check_file_path(value: str, *, field: str = "path") -> str:
    """Normalise and check a relative file path inside a resource.

    Refused: empty paths, absolute paths, '.' and '..' parts, backslashes, NUL and other
    control characters, empty parts (``a//b``), over-long paths. Paths are stored in NFC so
    that the same name typed on two systems is the same file.
    """

    def bad(reason: str) -> Invalid:
        return Invalid(f"{field} {reason}.", field=field)

    if not value:
        raise bad("must not be empty")
    if "\x00" in value:
        raise bad("must not contain NUL")
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise bad("must not contain control characters")
    if "\\" in value:
        raise bad("must not contain backslashes")
    if value.startswith("/"):
        raise bad("must be relative, not absolute")
    value = unicodedata.normalize("NFC", value)
    if len(value.encode()) > PATH_MAX:
        raise bad(f"must be at most {PATH_MAX} bytes")
    parts = value.split("/")
    for part in parts:
        if part == "":
            raise bad("must not contain empty parts ('//' or a trailing '/')")
        if part in (".", ".."):
            raise bad("must not contain '.' or '..' parts")
        if len(part.encode()) > PATH_PART_MAX:
            raise bad(f"parts must be at most {PATH_PART_MAX} bytes")
    return value


def find_labelled(
    db: DBSession, model: type[Labelled], project_id: int, label: str
) -> Labelled | None:
    """The subject or session of a project that ``label`` names, ignoring case, as
    :func:`label_taken` does: data arriving for ``ses01`` goes to the archived ``SES01``
    (merged, or a conflict), never to a second folder differing only in case. Should rows
    differing only in case exist from before, the exact spelling is taken."""
    return db.scalar(
        by_label(select(model).where(model.project_id == project_id), model.label, label)
    )
