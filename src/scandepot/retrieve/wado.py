"""WADO-RS retrieval of instances (PS3.18 §10.4.1.1.1): study, series or one instance as
``multipart/related; type="application/dicom"``.

Each instance goes as stored unless the ``Accept`` header asks for a transfer syntax it
is not stored in; then it is transcoded (:mod:`.syntaxes`). A request that names no
transfer syntax, or ``transfer-syntax=*``, gets the stored bytes (docs/dicomweb.md). The
syntax of every instance is decided before the first byte: one that cannot be sent in
any syntax the caller accepts makes the whole request 406.
"""

from __future__ import annotations

import functools
import time

from scandepot.context import Context
from scandepot.errors import NotAcceptable
from scandepot.query.scope import Scope
from scandepot.retrieve import accept, syntaxes
from scandepot.retrieve.instances import Located, locate
from scandepot.retrieve.multipart import Multipart, Part

DICOM = "application/dicom"


def dicom_syntaxes(ranges: list[accept.MediaRange]) -> list[str]:
    """The transfer syntaxes the caller takes instances in, best first (``*``: any)."""
    found: list[str] = []
    for media in ranges:
        if media.media_type in ("*/*", "multipart/*"):
            found.append(media.transfer_syntax or syntaxes.ANY)
        elif media.media_type == "multipart/related" and media.part_type in (None, DICOM):
            found.append(media.transfer_syntax or syntaxes.ANY)
    if not found:
        raise NotAcceptable(
            'Instances are sent as multipart/related; type="application/dicom" only.',
            field="Accept",
        )
    return found


def part_of(found: Located, wanted: list[str]) -> Part:
    """The part of one instance: stored bytes, or transcoded to the first syntax that
    can be made of it."""
    for syntax in wanted:
        if syntax in (syntaxes.ANY, found.transfer_syntax):
            kind = f"{DICOM}; transfer-syntax={found.transfer_syntax}"
            return Part(kind, path=found.path, size=found.size)
        if syntaxes.can_send(found.transfer_syntax, syntax):
            make = functools.partial(syntaxes.transcode, found.path, syntax)
            return Part(f"{DICOM}; transfer-syntax={syntax}", make=make)
    raise NotAcceptable(
        f"Instance {found.sop_instance} is stored in transfer syntax {found.transfer_syntax}, "
        f"which cannot be sent as {', '.join(wanted)}.",
        field="Accept",
    )


def retrieve(
    ctx: Context,
    scope: Scope,
    accept_header: str | None,
    study: str,
    series: str | None = None,
    instance: str | None = None,
) -> Multipart:
    """The instances of a study, series or one instance, ready to send."""
    wanted = dicom_syntaxes(accept.parse(accept_header))
    started_ns = time.time_ns()
    found = locate(ctx, scope, study, series, instance)
    return Multipart([part_of(one, wanted) for one in found], DICOM, started_ns=started_ns)
