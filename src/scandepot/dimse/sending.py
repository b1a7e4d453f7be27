"""An archived instance's data set as a presentation context carries it: the stored
bytes after the File Meta Information when the transfer syntax is the stored one (never
decoded), otherwise transcoded by retrieval as WADO-RS transcodes (to a native syntax,
or a compressed one pydicom can encode, never lossy into lossless); None where it
cannot be had."""

from __future__ import annotations

import logging
from io import BytesIO
from typing import BinaryIO

from pydicom.errors import InvalidDicomError
from pydicom.filereader import read_dataset, read_preamble
from pydicom.tag import BaseTag

from scandepot.retrieve.instances import Located
from scandepot.retrieve.syntaxes import CannotTranscode, can_send, transcode

log = logging.getLogger("scandepot.dicom")


def choose(
    contexts: dict[int, tuple[str, str]], allowed: frozenset[str] | None, item: Located
) -> tuple[int, str] | None:
    """The accepted context to send ``item`` on (its SOP class; ``allowed``: the classes
    the peer took the SCP role for), the stored transfer syntax first."""
    candidates = sorted(
        (syntax != item.transfer_syntax, context_id, syntax)
        for context_id, (abstract, syntax) in contexts.items()
        if abstract == item.sop_class and (allowed is None or abstract in allowed)
    )
    for _, context_id, syntax in candidates:
        if can_send(item.transfer_syntax, syntax):
            return context_id, syntax
    return None


def open_data_set(item: Located, syntax: str) -> BinaryIO | None:
    """The data set of ``item`` in ``syntax``, to read from; None when it cannot be had."""
    stream: BinaryIO | None = None
    try:
        if item.transfer_syntax == syntax:
            stream = item.path.open("rb")
        else:
            stream = BytesIO(transcode(item.path, syntax))
        stream.seek(_data_set_offset(stream))
        return stream
    except (OSError, CannotTranscode, InvalidDicomError, ValueError) as exc:
        if stream is not None:
            stream.close()
        log.warning("cannot send %s as %s: %s", item.sop_instance, syntax, exc)
        return None


def _data_set_offset(stream: BinaryIO) -> int:
    """Where the data set starts in a DICOM file: after its preamble and File Meta
    Information (PS3.10 §7.1), read as pynetdicom's ``split_dataset`` reads them."""

    def _not_group_0002(tag: BaseTag, vr: str | None, length: int) -> bool:
        return tag.group != 2

    read_preamble(stream, False)
    read_dataset(stream, is_implicit_VR=False, is_little_endian=True, stop_when=_not_group_0002)
    return stream.tell()
