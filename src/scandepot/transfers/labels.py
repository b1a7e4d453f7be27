"""Destination labels: a map from source labels, else a rule, else the same label; and
the mapping CSV people keep beside their studies."""

from __future__ import annotations

import csv
import io
import string

from scandepot.catalog.archive import Session
from scandepot.catalog.labels import check_label
from scandepot.errors import Invalid
from scandepot.transfers.requests import TransferRequest

SUBJECT_FIELDS = frozenset({"label", "project"})
SESSION_FIELDS = frozenset({"label", "subject", "project"})
MAX_MAP_ROWS = 100_000
COLUMNS = ("subject", "new_subject", "session", "new_session")


def _apply(rule: str, values: dict[str, str], allowed: frozenset[str], field: str) -> str:
    try:
        names = {name for _text, name, _spec, _conv in string.Formatter().parse(rule) if name}
    except ValueError as exc:
        raise Invalid(f"{field} is not a rule: {exc}.", field=field) from None
    unknown = names - allowed
    if unknown:
        raise Invalid(
            f"{field} may use {', '.join('{' + n + '}' for n in sorted(allowed))}; "
            f"not {', '.join(sorted(unknown))}.",
            field=field,
        )
    try:
        return rule.format(**{k: values[k] for k in allowed})
    except (ValueError, IndexError, KeyError) as exc:
        raise Invalid(f"{field} is not a rule: {exc}.", field=field) from None


def check_rules(request: TransferRequest) -> None:
    """Refuse a rule that could never give a label, before anything is looked up."""
    if request.subject_rule is not None:
        _apply(request.subject_rule, {"label": "x", "project": "x"}, SUBJECT_FIELDS, "subject_rule")
    if request.session_rule is not None:
        values = {"label": "x", "subject": "x", "project": "x"}
        _apply(request.session_rule, values, SESSION_FIELDS, "session_rule")


def _mapped(table: dict[str, str], label: str) -> str | None:
    if label in table:
        return table[label]
    lowered = label.lower()
    return next((v for k, v in table.items() if k.lower() == lowered), None)


def subject_label(request: TransferRequest, project: str, label: str) -> str:
    mapped = _mapped(request.subject_map, label)
    if mapped is None and request.subject_rule is not None:
        values = {"label": label, "project": project}
        mapped = _apply(request.subject_rule, values, SUBJECT_FIELDS, "subject_rule")
    return check_label(mapped if mapped is not None else label, field="subject label")


def session_label(request: TransferRequest, project: str, session: Session, subject: str) -> str:
    mapped = _mapped(request.session_map, session.label)
    if mapped is None and request.session_rule is not None:
        values = {"label": session.label, "subject": subject, "project": project}
        mapped = _apply(request.session_rule, values, SESSION_FIELDS, "session_rule")
    return check_label(mapped if mapped is not None else session.label, field="session label")


def read_map(text: str) -> tuple[dict[str, str], dict[str, str]]:
    """The subject and session maps of a CSV with a header row naming some of
    ``subject,new_subject,session,new_session``: a row maps a subject, a session, or
    both. Blank cells map nothing; a label mapped twice to different labels is refused."""
    rows = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip().lower() for h in rows.fieldnames or []]
    if not header:
        raise Invalid("The map is empty; its first row names the columns.", field="map")
    unknown = [h for h in header if h not in COLUMNS]
    if unknown:
        raise Invalid(
            f"The map's columns are {', '.join(COLUMNS)}; not {', '.join(unknown)}.", field="map"
        )
    rows.fieldnames = header
    subjects: dict[str, str] = {}
    sessions: dict[str, str] = {}
    for number, row in enumerate(rows, start=2):
        if number > MAX_MAP_ROWS:
            raise Invalid(f"The map has more than {MAX_MAP_ROWS} rows.", field="map")
        if None in row:
            raise Invalid(f"Row {number} of the map has more cells than columns.", field="map")
        _pair(row, "subject", "new_subject", subjects, number)
        _pair(row, "session", "new_session", sessions, number)
    return subjects, sessions


def _pair(row: dict[str, str], old: str, new: str, into: dict[str, str], number: int) -> None:
    before, after = (row.get(old) or "").strip(), (row.get(new) or "").strip()
    if not before and not after:
        return
    if not before or not after:
        raise Invalid(f"Row {number} of the map gives only one of {old} and {new}.", field="map")
    check_label(before, field=f"{old} in row {number}")
    check_label(after, field=f"{new} in row {number}")
    if into.get(before, after) != after:
        raise Invalid(
            f"Row {number} of the map maps {old} '{before}' to '{after}'; an earlier row to "
            f"'{into[before]}'.",
            field="map",
        )
    into[before] = after
