"""Sending to a DICOMweb endpoint: STOW-RS to store, QIDO-RS to ask what it holds.

A batch is one Store Instances request (PS3.18 10.5): ``POST {root}/studies`` with a
``multipart/related; type="application/dicom"`` body, one part per instance, answered by
the Store Instances Response Module in the DICOM JSON model: Referenced SOP Sequence
(0008,1199) for what was stored, Failed SOP Sequence (0008,1198) with a Failure Reason
(0008,1197) for what was not. 200: all stored; 202: some stored, or stored with warnings;
409: none stored. A 5xx, a 429 or no answer at all is :class:`Unreachable`.

What the far side holds is a Search for Instances of the study (PS3.18 10.6,
``GET {root}/studies/{uid}/instances``), paged with ``limit``/``offset``; 204, 404 or an
empty list mean none.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

import httpx

from scandepot.push import http_peer
from scandepot.push.http_peer import HttpPeer
from scandepot.push.sending import Held, Outgoing, Sent, Unreachable

DICOM_JSON = "application/dicom+json"
PAGE = 1000  # instances asked for per QIDO-RS request

# (0008,1198) Failed SOP Sequence, (0008,1199) Referenced SOP Sequence, and in their items
# (0008,1155) Referenced SOP Instance UID, (0008,1197) Failure Reason, (0008,1196) Warning
# Reason; (0008,0018) SOP Instance UID in a search's answer.
FAILED_SOP_SEQUENCE = "00081198"
REFERENCED_SOP_SEQUENCE = "00081199"
REFERENCED_SOP_INSTANCE = "00081155"
FAILURE_REASON = "00081197"
SOP_INSTANCE_UID = "00080018"
# scandepot's own words for a failure, in its private block (ingest/stow_response.py).
PRIVATE_CREATOR, PRIVATE_REASON = "00090010", "00091001"

# PS3.18 Table I.2-2 and PS3.4 Annex B: what a Failure Reason code means.
FAILURE_NAMES = {
    0x0110: "processing failure",
    0x0122: "SOP class not supported",
    0x0124: "not authorized",
    0xA700: "out of resources",
    0xA900: "data set does not match SOP class",
    0xC000: "cannot understand",
    0xC122: "referenced transfer syntax not supported",
}


def _failure_text(code: int) -> str:
    name = FAILURE_NAMES.get(code)
    if name is None and 0xA700 <= code <= 0xA7FF:
        name = "out of resources"
    elif name is None and 0xA900 <= code <= 0xA9FF:
        name = "data set does not match SOP class"
    elif name is None and 0xC000 <= code <= 0xCFFF:
        name = "cannot understand"
    return f"Failure Reason 0x{code:04X}" + (f" ({name})" if name else "")


def _value(item: dict[str, Any], tag: str) -> Any:
    values = (item.get(tag) or {}).get("Value") or []
    return values[0] if values else None


def parse_answer(response: httpx.Response, batch: Sequence[Outgoing]) -> list[Sent]:
    """One :class:`Sent` per instance of ``batch`` from a Store Instances answer that is
    not a 5xx (those are Unreachable before this)."""
    status = response.status_code
    body = _json_body(response)
    failed: dict[str, str] = {}
    temporary: set[str] = set()
    for item in (body.get(FAILED_SOP_SEQUENCE) or {}).get("Value") or []:
        uid = _value(item, REFERENCED_SOP_INSTANCE)
        code = _value(item, FAILURE_REASON)
        if not isinstance(uid, str):
            continue
        reason = _failure_text(code) if isinstance(code, int) else "failed, no reason given"
        words = _value(item, PRIVATE_REASON)
        if _value(item, PRIVATE_CREATOR) == "scandepot" and isinstance(words, str):
            reason = f"{reason}: {words}"
        failed[uid] = reason
        if isinstance(code, int) and 0xA700 <= code <= 0xA7FF:
            temporary.add(uid)
    stored = {
        _value(item, REFERENCED_SOP_INSTANCE)
        for item in (body.get(REFERENCED_SOP_SEQUENCE) or {}).get("Value") or []
    }
    # The answer in words: its status line, and its start when it is not the module.
    answer = http_peer.status_reason(response)
    if body:
        answer = f"HTTP {status} {response.reason_phrase}".rstrip()
    out: list[Sent] = []
    for instance in batch:
        uid = instance.sop_uid
        if uid in failed:
            out.append(Sent(uid, False, uid in temporary, failed[uid]))
        elif uid in stored or (status == 200 and not body.get(REFERENCED_SOP_SEQUENCE)):
            # A 200 says every instance was stored, whether or not it lists them.
            out.append(Sent(uid, True))
        elif status in (200, 202):
            out.append(Sent(uid, False, False, f"not in the peer's answer ({answer})"))
        else:
            out.append(Sent(uid, False, http_peer.is_temporary(status), answer))
    return out


def _json_body(response: httpx.Response) -> dict[str, Any]:
    """The answer's Store Instances Response Module, or {}. Some peers (Orthanc 1.10 on a
    400) send it without a Content-Type: JSON is recognised by its first character."""
    if not response.content.lstrip().startswith(b"{"):
        return {}
    try:
        parsed = response.json()
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def multipart_body(batch: Sequence[Outgoing]) -> tuple[bytes, str]:
    """The request body and its boundary: one ``application/dicom`` part per instance."""
    while True:
        boundary = f"scandepot-{secrets.token_hex(16)}"
        marker = f"--{boundary}".encode("ascii")
        if not any(marker in instance.data for instance in batch):
            break
    head = marker + b"\r\nContent-Type: application/dicom\r\n\r\n"
    chunks: list[bytes] = []
    for instance in batch:
        chunks += [head, instance.data, b"\r\n"]
    chunks.append(marker + b"--\r\n")
    return b"".join(chunks), boundary


class StowSender:
    """A :class:`~scandepot.push.sending.Sender` to a DICOMweb endpoint; thread-safe (one
    pooled client, as many connections as the destination's concurrency)."""

    def __init__(self, peer: HttpPeer) -> None:
        self.peer = peer
        self.root = peer.root
        self._client = http_peer.client(peer)

    def check(self) -> None:
        url = f"{self.root}/studies"
        try:
            response = self._client.get(url, params={"limit": "1"}, headers={"Accept": DICOM_JSON})
        except httpx.TransportError as exc:
            raise http_peer.check_transport(exc, url) from None
        http_peer.checked_answer(response, f"QIDO-RS {url}")

    def send(self, batch: Sequence[Outgoing]) -> list[Sent]:
        if not batch:
            return []
        body, boundary = multipart_body(batch)
        url = f"{self.root}/studies"
        headers = {
            "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
            "Accept": DICOM_JSON,
        }
        try:
            response = self._client.post(url, content=body, headers=headers)
        except httpx.TransportError as exc:
            raise http_peer.unreachable(exc, url) from None
        if response.status_code >= 500 or response.status_code in (408, 425, 429):
            raise Unreachable(f"STOW-RS {url}: {http_peer.status_reason(response)}")
        http_peer.credentials_accepted(response, f"STOW-RS {url}")
        return parse_answer(response, batch)

    def held(self, study_uids: Sequence[str], *, subject: str, session: str) -> list[Held]:
        return [Held(uid, frozenset(self._instances(uid))) for uid in study_uids]

    def _instances(self, study_uid: str) -> set[str]:
        url = f"{self.root}/studies/{study_uid}/instances"
        found: set[str] = set()
        while True:
            params = {"limit": str(PAGE), "offset": str(len(found)), "includefield": "00080018"}
            try:
                response = self._client.get(url, params=params, headers={"Accept": DICOM_JSON})
            except httpx.TransportError as exc:
                raise http_peer.unreachable(exc, url) from None
            if response.status_code in (204, 404):
                return found
            page = _page(http_peer.checked_answer(response, f"QIDO-RS {url}"))
            new = page - found
            found |= new
            # Asked again until a page brings nothing new: a server may answer fewer than
            # the limit per page without saying more are left (PS3.18 lets it cap pages).
            if not new:
                return found

    def close(self) -> None:
        self._client.close()


def _page(response: httpx.Response) -> set[str]:
    if not response.content:
        return set()
    try:
        items = response.json()
    except ValueError:
        raise Unreachable(f"QIDO-RS answer is not JSON: {response.text[:100]!r}") from None
    if not isinstance(items, list):
        return set()
    return {
        uid
        for item in items
        if isinstance(item, dict) and isinstance(uid := _value(item, SOP_INSTANCE_UID), str)
    }
