"""The final check against an XNAT: its DICOM files have names of its own, and each
instance's SOP Instance UID is in its resource's catalog, which a GET of the resource
answers. A small HTTP server answers as an XNAT does (its listing, its catalog XML)."""

from __future__ import annotations

import json

import pytest

from scandepot.push.http_peer import HttpPeer
from scandepot.push.sending import Unreachable
from scandepot.push.xnat import XnatSender, XnatTarget, catalog_uids
from tests.push.peers import http_peer


def test_the_catalog_names_the_instances_an_xnat_keeps_under_its_own_names() -> None:
    """An XNAT lists its DICOM files under names of its own; the final check reads the
    SOP Instance UIDs from the catalog of the resource the listing points at."""
    uids = ["1.2.826.0.1.3680043.8.498.1", "1.2.826.0.1.3680043.8.498.2"]
    resource = "/data/experiments/XNAT_E00001/scans/1/resources/77"
    catalog = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<cat:DCMCatalog xmlns:cat="http://nrg.wustl.edu/catalog" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" UID="1.2.3"><cat:entries>'
        + "".join(
            f'<cat:entry URI="1.2.3-1-{n}-x{n}.dcm" ID="1.2.3-1-{n}" UID="{uid}" '
            f'instanceNumber="{n}" xsi:type="cat:dcmEntry"/>'
            for n, uid in enumerate(uids, 1)
        )
        + "</cat:entries></cat:DCMCatalog>"
    ).encode()
    listing = {
        "ResultSet": {
            "Result": [
                {
                    "Name": f"1.2.3-1-{n}-x{n}.dcm",
                    "URI": f"{resource}/files/1.2.3-1-{n}-x{n}.dcm",
                    "collection": "DICOM",
                }
                for n in (1, 2)
            ]
            + [{"Name": "snap.gif", "URI": "/data/x/resources/9/files/snap.gif", "collection": "S"}]
        }
    }

    def answer(
        method: str, path: str, _h: dict[str, str], _b: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        if path.split("?")[0].endswith("/scans/ALL/files"):
            return 200, {"Content-Type": "application/json"}, json.dumps(listing).encode()
        if path == resource:
            return 200, {"Content-Type": "text/xml"}, catalog
        return 404, {}, b"not here"

    with http_peer(answer) as server:
        sender = XnatSender(XnatTarget(HttpPeer(url=server.url), "P"))
        try:
            [held] = sender.held(["1.2.3"], subject="S", session="E")
        finally:
            sender.close()
        asked = [p for _m, p, _h in server.seen]
    assert held.sop_uids == set(uids)
    assert resource in asked and not any("/resources/9" in p for p in asked)


def test_a_catalog_that_is_not_xml_or_declares_a_doctype_is_refused() -> None:
    with pytest.raises(Unreachable, match="catalog cannot be read"):
        catalog_uids(b"<html><body>login</body>")
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>'
    with pytest.raises(Unreachable, match="document type"):
        catalog_uids(bomb)
    entry = b'<entry xmlns="http://nrg.wustl.edu/catalog" UID="1.2.3"/>'
    assert catalog_uids(entry) == {"1.2.3"}


def test_a_resource_answered_without_a_catalog_gives_no_uids() -> None:
    """A peer that answers a resource as JSON (no catalog): its files not named by a UID
    count for nothing, without an error."""
    listing = {
        "ResultSet": {
            "Result": [
                {"Name": "1.2.3.4.dcm", "URI": "/data/r/resources/1/files/1.2.3.4.dcm"},
                {
                    "Name": "mine.dcm",
                    "URI": "/data/r/resources/2/files/mine.dcm",
                    "collection": "DICOM",
                },
            ]
        }
    }

    def answer(
        _m: str, path: str, _h: dict[str, str], _b: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        if path.split("?")[0].endswith("/files"):
            return 200, {"Content-Type": "application/json"}, json.dumps(listing).encode()
        return 200, {"Content-Type": "application/json"}, b'{"items": []}'

    with http_peer(answer) as server:
        sender = XnatSender(XnatTarget(HttpPeer(url=server.url), "P"))
        try:
            [held] = sender.held(["1.2.3"], subject="S", session="E")
        finally:
            sender.close()
        asked = [p for _m, p, _h in server.seen]
    assert held.sop_uids == {"1.2.3.4"}
    assert "/data/r/resources/2" in asked and "/data/r/resources/1" not in asked


def test_a_listing_pointing_off_the_server_is_not_followed() -> None:
    """A listing that names a resource on another host (a hostile or confused far side) is
    not followed: the destination's credentials go only to the destination."""
    asked_elsewhere: list[str] = []

    def elsewhere(
        method: str, path: str, headers: dict[str, str], _b: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        asked_elsewhere.append(headers.get("authorization", ""))
        return 200, {"Content-Type": "text/xml"}, b"<cat:Catalog/>"

    with http_peer(elsewhere) as other:
        listing = {
            "ResultSet": {
                "Result": [
                    {
                        "Name": "x1.dcm",
                        "URI": f"{other.url}/data/experiments/E/scans/1/resources/7/files/x1.dcm",
                        "collection": "DICOM",
                    },
                    {
                        "Name": "x2.dcm",
                        "URI": "//127.0.0.2/data/experiments/E/scans/1/resources/7/files/x2.dcm",
                        "collection": "DICOM",
                    },
                ]
            }
        }

        def answer(
            method: str, path: str, _h: dict[str, str], _b: bytes
        ) -> tuple[int, dict[str, str], bytes]:
            if path.split("?")[0].endswith("/scans/ALL/files"):
                return 200, {"Content-Type": "application/json"}, json.dumps(listing).encode()
            return 404, {}, b"not here"

        with http_peer(answer) as server:
            peer = HttpPeer(url=server.url, auth="basic", username="u", secret="s3cret-pass")
            sender = XnatSender(XnatTarget(peer, "P"))
            try:
                [held] = sender.held(["1.2.3"], subject="S", session="E")
            finally:
                sender.close()
    assert held.sop_uids == frozenset() and asked_elsewhere == []
