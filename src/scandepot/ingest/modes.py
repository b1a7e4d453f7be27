"""The choices an upload makes: where it goes, and what happens to a session that exists.

A module of its own so that the command line can name them without loading the server.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Destination(enum.StrEnum):
    PREARCHIVE = "prearchive"
    ARCHIVE = "archive"


class Overwrite(enum.StrEnum):
    """What to do when a session with the label is archived already."""

    NONE = "none"  # refuse the upload
    APPEND = "append"  # add to it (merge rules; differing files kept aside and flagged)
    DELETE = "delete"  # delete it, then archive the upload in its place


@dataclass(frozen=True, slots=True)
class Options:
    subject: str | None = None
    session: str | None = None
    destination: Destination | None = None  # None: the project's upload destination
    overwrite: Overwrite = Overwrite.NONE
    ignore_unparsable: bool = False
