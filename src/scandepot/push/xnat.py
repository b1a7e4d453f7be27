"""Sending to an XNAT, or another scandepot, by its import service.

A batch is one zip of its instances posted to ``{url}/data/services/import`` with XNAT's
``DICOM-zip`` handler, into the destination's project on the far side, under the subject
and session labels the push gives (``PROJECT_ID``, ``SUBJECT_ID``, ``EXPT_LABEL``),
archived at once (``dest=/archive``) and added to what the session already holds
(``overwrite=append``): the batches of one session land in one session. The service
answers for the zip as a whole: a success stores every instance of the batch; a 4xx
fails them all with the peer's answer; a 5xx is :class:`Unreachable`.

What the far side holds is read from the session's file listing
(``/data/projects/{p}/subjects/{s}/experiments/{e}/scans/ALL/files?format=json``). A
scandepot names each DICOM file by its SOP Instance UID (``{uid}.dcm``): the listing says
it all. An XNAT names its files by its own pattern, and keeps each instance's SOP
Instance UID in its resource's catalog (``cat:dcmEntry``, attribute ``UID``), which a GET
of the resource answers (``.../scans/{scan}/resources/{resource}``, ``cat:Catalog`` XML):
the catalog of each resource whose DICOM files are not named by UID is read too.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from io import BytesIO
from typing import Any
from urllib.parse import quote
from xml.parsers import expat

import httpx

from scandepot.push import http_peer
from scandepot.push.http_peer import HttpPeer
from scandepot.push.sending import Held, Outgoing, Sent, Unreachable

HANDLER = "DICOM-zip"
_UID_NAME = re.compile(r"((?:[0-9]+\.)*[0-9]+)\.dcm", re.IGNORECASE)
CATALOG_NS = "http://nrg.wustl.edu/catalog"
# A file's URI in a listing, up to its resource: ``.../resources/{resource}/files/{path}``.
# A resource's path on the far server, as its file listing gives it: from the server's
# root, never a whole URL (the destination's credentials go only to the destination).
_RESOURCE_URI = re.compile(r"(/(?!/)[^?#]*?/resources/[^/?#]+)/files/")


@dataclass(frozen=True, slots=True)
class XnatTarget:
    peer: HttpPeer
    project: str  # the project on the far side


def zipped(batch: Sequence[Outgoing]) -> bytes:
    """The batch as a zip: one ``{SOPInstanceUID}.dcm`` per instance, stored as it is."""
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for instance in batch:
            archive.writestr(f"{instance.sop_uid}.dcm", instance.data)
    return buffer.getvalue()


class XnatSender:
    """A :class:`~scandepot.push.sending.Sender` to an XNAT import service; thread-safe."""

    def __init__(self, target: XnatTarget) -> None:
        self.target = target
        self.root = target.peer.root
        self._client = http_peer.client(target.peer)

    def _project_url(self) -> str:
        return f"{self.root}/data/projects/{quote(self.target.project, safe='')}"

    def check(self) -> None:
        url = self._project_url()
        try:
            response = self._client.get(url, params={"format": "json"})
        except httpx.TransportError as exc:
            raise http_peer.check_transport(exc, url) from None
        if response.status_code == 404:
            http_peer.checked_answer(response, f"No project '{self.target.project}' at {url}")
        http_peer.checked_answer(response, f"GET {url}")

    def send(self, batch: Sequence[Outgoing]) -> list[Sent]:
        if not batch:
            return []
        labels = {(o.subject, o.session) for o in batch}
        if len(labels) != 1:
            raise ValueError("A batch to XNAT holds the instances of one session.")
        subject, session = labels.pop()
        url = f"{self.root}/data/services/import"
        params = {
            "import-handler": HANDLER,
            "PROJECT_ID": self.target.project,
            "SUBJECT_ID": subject,
            "EXPT_LABEL": session,
            "dest": "/archive",
            "overwrite": "append",
        }
        try:
            response = self._client.post(
                url,
                params=params,
                content=zipped(batch),
                headers={"Content-Type": "application/zip"},
            )
        except httpx.TransportError as exc:
            raise http_peer.unreachable(exc, url) from None
        if http_peer.is_temporary(response.status_code):
            raise Unreachable(f"XNAT import {url}: {http_peer.status_reason(response)}")
        http_peer.credentials_accepted(response, f"XNAT import {url}")
        if response.is_success:
            return [Sent(o.sop_uid, True) for o in batch]
        reason = http_peer.status_reason(response)
        return [Sent(o.sop_uid, False, False, reason) for o in batch]

    def held(self, study_uids: Sequence[str], *, subject: str, session: str) -> list[Held]:
        """The session's DICOM instances, by file name or by catalog (see the module
        docstring); every study asked for is answered with the session's instances (a
        session is one study)."""
        url = (
            f"{self._project_url()}/subjects/{quote(subject, safe='')}"
            f"/experiments/{quote(session, safe='')}/scans/ALL/files"
        )
        response = self._get(url, {"format": "json"})
        found: set[str] = set()
        if response.status_code != 404:
            http_peer.checked_answer(response, f"GET {url}")
            named, catalogs = _listed(response)
            found = named
            for resource in sorted(catalogs):
                found |= self._catalog_uids(resource)
        return [Held(uid, frozenset(found)) for uid in study_uids]

    def _get(self, url: str, params: dict[str, str] | None = None) -> httpx.Response:
        try:
            return self._client.get(url, params=params)
        except httpx.TransportError as exc:
            raise http_peer.unreachable(exc, url) from None

    def _catalog_uids(self, resource_uri: str) -> set[str]:
        """The SOP Instance UIDs in the catalog of the resource at ``resource_uri`` (a
        path from the server's root, as XNAT's listings give it)."""
        if not resource_uri.startswith("/") or resource_uri.startswith("//"):
            raise Unreachable(f"a catalog off the destination's server: {resource_uri[:80]}")
        url = f"{self.root}{resource_uri}"
        response = http_peer.checked_answer(self._get(url), f"GET {url}")
        if "xml" not in response.headers.get("content-type", "").lower():
            return set()  # a peer that answers a resource with no catalog: nothing from it
        return catalog_uids(response.content)

    def close(self) -> None:
        self._client.close()


def _listed(response: httpx.Response) -> tuple[set[str], set[str]]:
    """From a file listing: the UIDs its DICOM files are named by, and the resources (their
    URIs) holding DICOM files that are not named so."""
    try:
        body: Any = response.json()
    except ValueError:
        raise Unreachable(f"The file listing is not JSON: {response.text[:100]!r}") from None
    rows = (body.get("ResultSet") or {}).get("Result") if isinstance(body, dict) else None
    named: set[str] = set()
    catalogs: set[str] = set()
    for row in rows or []:
        if not isinstance(row, dict) or not isinstance(row.get("Name"), str):
            continue
        matched = _UID_NAME.fullmatch(row["Name"])
        if matched:
            named.add(matched[1])
            continue
        uri = row.get("URI")
        dicom = str(row.get("collection", "")).upper() == "DICOM" or row["Name"].lower().endswith(
            ".dcm"
        )
        resource = _RESOURCE_URI.match(uri) if dicom and isinstance(uri, str) else None
        if resource:
            catalogs.add(resource[1])
    return named, catalogs


def catalog_uids(document: bytes) -> set[str]:
    """The ``UID`` of every entry of an XNAT catalog (``cat:Catalog`` XML); a document
    that is not XML, or declares a document type, is Unreachable with the reason."""
    found: set[str] = set()
    parser = expat.ParserCreate(namespace_separator="}")

    def start(name: str, attributes: dict[str, str]) -> None:
        if name == f"{CATALOG_NS}}}entry" and attributes.get("UID"):
            found.add(attributes["UID"].strip())

    def doctype(*_args: object) -> None:
        raise ValueError("a document type is not accepted")

    parser.StartElementHandler = start
    parser.StartDoctypeDeclHandler = doctype
    try:
        parser.Parse(document, True)
    except (expat.ExpatError, ValueError) as exc:
        raise Unreachable(f"The resource's catalog cannot be read: {exc}") from None
    return found
