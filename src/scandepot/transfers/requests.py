"""What a caller asks of a transfer, as the API, the CLI and the web pages send it."""

from __future__ import annotations

import enum

from pydantic import BaseModel, ConfigDict, Field

from scandepot.catalog.transfers import TransferKind

MAX_ITEMS = 10_000


class Clash(enum.StrEnum):
    """What to do with a session whose destination label is taken already."""

    STOP = "stop"  # a problem: nothing is written
    SKIP = "skip"  # leave that session out
    MERGE = "merge"  # add its scans to the session there (same study, new scan numbers)


class Landing(enum.StrEnum):
    """Where copied sessions land in the destination."""

    ARCHIVE = "archive"
    PREARCHIVE = "prearchive"


class TransferRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: TransferKind
    source: str = Field(max_length=64, description="The project the sessions are in.")
    destination: str = Field(max_length=64, description="The project they go to.")
    sessions: list[str] = Field(
        default_factory=list, max_length=MAX_ITEMS, description="Session labels in the source."
    )
    subjects: list[str] = Field(
        default_factory=list,
        max_length=MAX_ITEMS,
        description="Subject labels in the source: every session of each.",
    )
    subject_map: dict[str, str] = Field(
        default_factory=dict, description="Source subject label -> destination label."
    )
    session_map: dict[str, str] = Field(
        default_factory=dict, description="Source session label -> destination label."
    )
    subject_rule: str | None = Field(
        default=None,
        max_length=200,
        description="Destination subject labels for those not in the map, e.g. "
        "'{project}_{label}'; placeholders {label}, {project}.",
    )
    session_rule: str | None = Field(
        default=None,
        max_length=200,
        description="Destination session labels for those not in the map; placeholders "
        "{label}, {subject} (the destination subject), {project}.",
    )
    scans: list[str] = Field(
        default_factory=list,
        max_length=1000,
        description="Scans to take, by ID (number) or type (shell pattern); empty: all.",
    )
    with_resources: bool = Field(
        default=False,
        description="Take non-DICOM resources too: the project's, each subject's, each "
        "session's and each scan's (pipeline outputs included).",
    )
    on_clash: Clash = Clash.STOP
    deidentify: bool = Field(
        default=False,
        description="A copy de-identified by the source project's export script: new "
        "files with new UIDs in the destination, the originals left as they are; DICOM "
        "only; refused with a move, with resources, with merge, and when the source has "
        "no export script.",
    )
    allow_burned_in: bool = Field(
        default=False,
        description="With deidentify: let through instances that may show burned-in "
        "annotation (refused by default).",
    )
    landing: Landing | None = Field(
        default=None,
        description="Where sessions land; default: the destination's upload destination. "
        "Only an owner of the destination may choose the archive over its prearchive.",
    )
