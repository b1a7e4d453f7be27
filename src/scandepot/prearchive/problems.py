"""A staged session's problems: what keeps it from being archived, or what a person
should know before archiving it. Each is a kind, which code acts on, and a text, which
people read; both are kept in the session's ``problems`` column."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


class Kind(enum.StrEnum):
    NO_PROJECT = "no-project"  # no rule routed the session to a project
    PROJECT = "project"  # the project routed to does not exist, or holds the study staged
    LEFT_OUT = "left-out"  # a series the project's series filter leaves out
    CONFLICT = "conflict"  # archiving would clash with what the archive holds
    ARRIVED_AGAIN = "arrived-again"  # an instance came again with other bytes
    FAILED = "failed"  # building or archiving failed
    DEID = "deid"  # the project's archive script refused an instance, or failed on one
    NOTE = "note"  # written by an earlier version, as text only


@dataclass(frozen=True, slots=True)
class Problem:
    kind: Kind
    text: str

    def stored(self) -> dict[str, str]:
        return {"kind": self.kind.value, "text": self.text}


# Kinds that stay when a session is built again: the build finds the others afresh. A
# de-identification failure is found only by archiving, so it stays until the next try.
KEPT_BY_BUILD = frozenset({Kind.ARRIVED_AGAIN, Kind.DEID})


def load(stored: Iterable[Any]) -> list[Problem]:
    """The problems as stored; a bare text is one stored before problems had kinds."""
    found: list[Problem] = []
    for value in stored:
        if isinstance(value, dict):
            try:
                kind = Kind(str(value.get("kind")))
            except ValueError:
                kind = Kind.NOTE
            found.append(Problem(kind, str(value.get("text", ""))))
        else:
            found.append(Problem(_legacy_kind(str(value)), str(value)))
    return found


def store(problems: Iterable[Problem]) -> list[dict[str, str]]:
    return [problem.stored() for problem in problems]


def texts(stored: Iterable[Any]) -> list[str]:
    """The problems as people read them."""
    return [problem.text for problem in load(stored)]


def _legacy_kind(text: str) -> Kind:
    # Rows from before kinds: the one problem a build keeps is known by its sentence.
    return Kind.ARRIVED_AGAIN if "arrived again with other bytes" in text else Kind.NOTE


def arrived_again(sop_instance_uid: str) -> Problem:
    return Problem(
        Kind.ARRIVED_AGAIN,
        f"Instance {sop_instance_uid} arrived again with other bytes; both copies are kept.",
    )


def missing_project(label: str) -> Problem:
    return Problem(Kind.PROJECT, f"Project '{label}' does not exist.")


def add(stored: Iterable[Any], problem: Problem) -> list[dict[str, str]]:
    """``stored`` with ``problem`` added, unless it is there already."""
    found = load(stored)
    if problem not in found:
        found.append(problem)
    return store(found)


def without(stored: Iterable[Any], *kinds: Kind) -> list[dict[str, str]]:
    return store(p for p in load(stored) if p.kind not in kinds)


def deid_failed(reason: str) -> Problem:
    return Problem(Kind.DEID, reason)
