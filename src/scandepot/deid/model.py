"""What every de-identification script shares: the keys that make pseudonyms consistent,
one run's parameters, the script interface, and the errors it raises.

A script is loaded once (:func:`scandepot.deid.scripts.load`), which refuses it if it is
malformed, naming the line, and is then applied to many datasets. Applying it changes
the dataset in place; a script that must not let an instance out raises :class:`Refused`.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Protocol

from pydicom import Dataset

from scandepot.errors import Invalid

# Root of UIDs derived from a UUID (PS3.5 B.2): "2.25." and a 128-bit integer.
UUID_ROOT = "2.25."
# Date shifts lie in [-MAX_SHIFT_DAYS, -1]: always back in time, never to the same day.
MAX_SHIFT_DAYS = 3650


class ScriptError(Invalid):
    """A script that cannot be loaded: ``line`` is 1-based, None when the whole is wrong."""

    code = "invalid_script"

    def __init__(self, message: str, *, line: int | None = None, source: str = "script") -> None:
        where = f"{source}, line {line}: " if line is not None else f"{source}: "
        super().__init__(where + message, field="script")
        self.line = line


class Refused(Invalid):
    """An instance the script will not let through (``@require`` missing, burned-in
    annotation, a pixel rule on a syntax without a codec): the operation fails for it."""

    code = "deid_refused"


@dataclass(frozen=True, slots=True)
class Keys:
    """A project's pseudonym key and lookup table: the same input gives the same output
    across sessions and uploads of one project; another project's secret gives another."""

    secret: bytes
    # (kind, original) -> pseudonym: kind "ptid" (Patient ID), "ptname" (Patient's Name),
    # or any key type a CTP script's @lookup names.
    lookup: Mapping[tuple[str, str], str] = field(default_factory=dict)

    def digest(self, purpose: str, value: str) -> bytes:
        """HMAC-SHA256 of ``value`` under the secret, separated by ``purpose``."""
        return _digest(self.secret, f"{purpose}\0{value}".encode())

    def uid(self, uid: str) -> str:
        """A UID remapped: "2.25." and 128 bits of the keyed digest (PS3.5 B.2)."""
        return _uid(self.secret, uid.strip())

    def shift_days(self, patient: str) -> int:
        """How many days one patient's dates move: the same for every study of theirs."""
        number = int.from_bytes(self.digest("date", patient.strip())[:8], "big")
        return -(1 + number % MAX_SHIFT_DAYS)

    def pseudonym(self, kind: str, original: str) -> str | None:
        return self.lookup.get((kind, original.strip()))


def _digest(secret: bytes, message: bytes) -> bytes:
    return hmac.digest(secret, message, "sha256")  # one call in C, as hmac.new(...).digest()


@lru_cache(maxsize=1 << 14)
def _uid(secret: bytes, uid: str) -> str:
    """The instances of a session share their study, frame of reference and referenced
    UIDs: each is remapped once."""
    return UUID_ROOT + str(int.from_bytes(_digest(secret, f"uid\0{uid}".encode())[:16], "big"))


@dataclass(slots=True)
class Run:
    """One application of a script: the project's keys and the named values it may use.

    ``params`` holds the script's own parameters and those the archive gives: PROJECT,
    SUBJECT and SESSION (the labels the instance is archived under), when known.
    """

    keys: Keys
    params: dict[str, str] = field(default_factory=dict)


class Script(Protocol):
    """A loaded de-identification script."""

    @property
    def kind(self) -> str:  # catalog.deid.ScriptKind
        ...

    @property
    def sha256(self) -> str:  # of the text it was loaded from
        ...

    def apply(self, ds: Dataset, run: Run) -> None:
        """De-identify ``ds`` in place (file meta included), or raise :class:`Refused`."""
        ...
