"""C-FIND SCP (PS3.4 C.4.1): the identifier's keys run through the query engine, each
match sent in a pending response holding the keys asked for, then success.

A response identifier holds exactly the keys of the request (PS3.4 C.4.1.1.3.2): each
with the match's value, or empty where the archive has none; the Query/Retrieve Level;
the Specific Character Set when a value is not ASCII; and the Retrieve AE Title, ours,
when asked. A C-CANCEL between two matches ends the search with status Cancel.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from pydicom import Dataset
from pydicom.dataelem import DataElement

from scandepot.dimse.qr import (
    CANCELLED,
    PENDING,
    SUCCESS,
    UNABLE_TO_PROCESS,
    QueryRetrieve,
    Request,
    Steps,
    Wait,
    failure_status,
)
from scandepot.errors import ScandepotError
from scandepot.query.search import from_identifier, search

log = logging.getLogger("scandepot.dicom")

_RETRIEVE_AE_TITLE = 0x00080054
_QUERY_RETRIEVE_LEVEL = 0x00080052
_SPECIFIC_CHARACTER_SET = 0x00080005


def run(qr: QueryRetrieve, request: Request) -> Steps:
    try:
        query = from_identifier(request.identifier, request.level)
        if qr.find_limit:
            query = replace(query, limit=qr.find_limit + 1)  # one more: to know of more
        matches = search(qr.ctx, qr.scope, query)
    except ScandepotError as exc:
        qr.respond(request, failure_status(exc), comment=exc.message)
        return
    except Exception:
        log.exception("C-FIND from %s failed", qr.calling_ae)
        qr.respond(request, UNABLE_TO_PROCESS, comment="the query failed")
        return
    if qr.find_limit and len(matches) > qr.find_limit:
        log.warning(
            "C-FIND from %s: answered the first %d matches, left out the rest",
            qr.calling_ae,
            qr.find_limit,
        )
        matches = matches[: qr.find_limit]
    for match in matches:
        if qr.cancelled:
            qr.respond(request, CANCELLED)
            return
        qr.respond(request, PENDING, identifier=answer(request, match, qr.ae_title))
        yield Wait.READY
    qr.respond(request, CANCELLED if qr.cancelled else SUCCESS)
    log.info(
        "C-FIND from %s at %s level: %d match(es)%s",
        qr.calling_ae,
        request.level.value,
        len(matches),
        " (cancelled)" if qr.cancelled else "",
    )


def answer(request: Request, match: Dataset, ae_title: str) -> Dataset:
    """The response identifier of ``match`` for the keys ``request`` asked for."""
    out = Dataset()
    for asked in request.identifier:
        tag = int(asked.tag)
        if tag in (_SPECIFIC_CHARACTER_SET, _QUERY_RETRIEVE_LEVEL) or asked.tag.group == 0:
            continue
        if tag == _RETRIEVE_AE_TITLE:
            out.RetrieveAETitle = ae_title
        elif asked.tag in match:
            out[asked.tag] = match[asked.tag]
        else:
            out[asked.tag] = DataElement(asked.tag, asked.VR, None)
    out.QueryRetrieveLevel = request.level.value
    if not _ascii(out):
        out.SpecificCharacterSet = "ISO_IR 192"
    return out


def _ascii(ds: Dataset) -> bool:
    for element in ds:
        values = element.value if element.VM > 1 else [element.value]
        for value in values:
            if isinstance(value, str) and not value.isascii():
                return False
            if hasattr(value, "original_string") and not str(value).isascii():
                return False
    return True
