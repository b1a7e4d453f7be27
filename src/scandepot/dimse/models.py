"""The query/retrieve information models served (PS3.4 C.6): which SOP class is which
operation on which model, and the levels each model has (PS3.4 C.3)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from scandepot.query.attributes import Level


class Operation(enum.StrEnum):
    FIND = "C-FIND"
    GET = "C-GET"
    MOVE = "C-MOVE"


class Root(enum.StrEnum):
    PATIENT = "Patient Root"
    STUDY = "Study Root"


@dataclass(frozen=True)
class Model:
    root: Root
    operation: Operation

    @property
    def levels(self) -> tuple[Level, ...]:
        """The query/retrieve levels of the model, top down (PS3.4 C.3.1, C.3.2)."""
        lower = (Level.STUDY, Level.SERIES, Level.IMAGE)
        return (Level.PATIENT, *lower) if self.root is Root.PATIENT else lower


# SOP Class UIDs, PS3.4 Table C.6-1 and C.6-2 (pynetdicom.sop_class names them alike)
QUERY_RETRIEVE: dict[str, Model] = {
    "1.2.840.10008.5.1.4.1.2.1.1": Model(Root.PATIENT, Operation.FIND),
    "1.2.840.10008.5.1.4.1.2.1.2": Model(Root.PATIENT, Operation.MOVE),
    "1.2.840.10008.5.1.4.1.2.1.3": Model(Root.PATIENT, Operation.GET),
    "1.2.840.10008.5.1.4.1.2.2.1": Model(Root.STUDY, Operation.FIND),
    "1.2.840.10008.5.1.4.1.2.2.2": Model(Root.STUDY, Operation.MOVE),
    "1.2.840.10008.5.1.4.1.2.2.3": Model(Root.STUDY, Operation.GET),
}
