"""An archived instance's data set as a presentation context carries it: the stored
bytes after the File Meta Information when the transfer syntax is the stored one (never
decoded), otherwise converted by pydicom where it can (to an uncompressed syntax, the
pixel data decompressed by its plug-ins); None where it cannot."""

from __future__ import annotations

import logging
from io import BytesIO
from typing import BinaryIO

from pydicom import dcmread
from pydicom.uid import UID
from pynetdicom.dsutils import split_dataset

from scandepot.dimse.messages import encode_data_set
from scandepot.retrieve.instances import Located

log = logging.getLogger("scandepot.dicom")


def can_carry(stored: str, syntax: str) -> bool:
    """Whether an instance stored in ``stored`` can go in a context of ``syntax``."""
    return stored == syntax or not UID(syntax).is_compressed


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
        if can_carry(item.transfer_syntax, syntax):
            return context_id, syntax
    return None


def open_data_set(item: Located, syntax: str) -> BinaryIO | None:
    """The data set of ``item`` in ``syntax``, to read from; None when it cannot be had."""
    try:
        if item.transfer_syntax == syntax:
            _, offset = split_dataset(item.path)
            stream = item.path.open("rb")
            stream.seek(offset)
            return stream
        ds = dcmread(item.path)
        if ds.file_meta.TransferSyntaxUID.is_compressed:
            ds.decompress()
        return BytesIO(encode_data_set(ds, syntax))
    except Exception as exc:  # an unreadable file or a codec missing: a failed sub-operation
        log.warning(
            "cannot send %s as %s: %s",
            item.sop_instance,
            syntax,
            exc,
            exc_info=log.isEnabledFor(10),
        )
        return None
