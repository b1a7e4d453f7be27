"""Download lists: the same files as the download of the same selection, as an XNAT
catalog document; every file fetched through its entry is the catalogued bytes; a list
that is not sound is refused, saying why."""

from __future__ import annotations

import hashlib
import re
import xml.etree.ElementTree as ET
from urllib.parse import parse_qsl, urlsplit

import pytest
from fastapi.testclient import TestClient

from scandepot.errors import Invalid
from scandepot.export import list_format
from scandepot.export.layouts import Layout
from scandepot.export.list_format import CAT, SD, DownloadList, ListEntry, parse, to_xml
from tests.export.conftest import BASE, World
from tests.export.test_round_trip import expected_names, read_archive
from tests.helpers import ADMIN

SHA = "ab" * 32
MD5 = "cd" * 16
NS = {"cat": CAT}


def entry_xml(
    uri: str = "http://h/api/v1/x",
    path: str = "S1/a.dcm",
    size: str = "3",
    sha256: str = SHA,
    extra: str = "",
) -> str:
    meta = f'<cat:metaField name="SIZE">{size}</cat:metaField>' if size is not None else ""
    uri_attr = f' URI="{uri}"' if uri else ""
    return (
        f'<cat:entry{uri_attr} ID="{path}" sd:sha256="{sha256}"{extra}>'
        f"<cat:metaFields>{meta}</cat:metaFields></cat:entry>"
    )


def document(*entries: str, root: str = "cat:Catalog") -> bytes:
    body = "".join(entries)
    return (
        f'<?xml version="1.0"?><{root} xmlns:cat="{CAT}" xmlns:sd="{SD}">'
        f"<cat:entries>{body}</cat:entries></{root}>"
    ).encode()


def test_list_holds_what_the_download_holds(client: TestClient, world: World) -> None:
    query = "?sessions=E1,E3&resources=DICOM,QA&layout=flat"
    r = client.get(f"{BASE}/download-list{query}", auth=ADMIN)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/xml"
    disposition = r.headers["content-disposition"]
    assert re.fullmatch(r'attachment; filename="scandepot-list-P1-\d{8}\.xml"', disposition)
    doc = parse(r.content)
    assert (doc.project, doc.layout, doc.server) == ("P1", "flat", "http://testserver")
    archive = read_archive("zip", client.get(f"{BASE}/download{query}", auth=ADMIN).content)
    del archive["manifest.json"], archive["manifest.sha256"]
    want = world.select(session={"E1", "E3"}, resource={"DICOM", "QA"})
    assert archive == expected_names(want, Layout.FLAT)
    assert [e.path for e in doc.entries] == list(archive)  # same names, same order
    for e in doc.entries:
        body = client.get(e.uri, auth=ADMIN).content  # the entry's own route
        assert body == archive[e.path]
        assert e.size == len(body)
        assert e.sha256 == hashlib.sha256(body).hexdigest()
        assert e.md5 == hashlib.md5(body).hexdigest()
    assert doc.total_size == sum(len(b) for b in archive.values())


def test_list_is_an_xnat_catalog(client: TestClient, world: World) -> None:
    """Root cat:Catalog; entries with URI, ID, name, cachePath, digest (MD5) and the SIZE
    and RELATIVE_PATH metafields, as XNAT writes them; the SHA-256 in our namespace."""
    r = client.get(f"{BASE}/sessions/E2/resources/QA/download-list", auth=ADMIN)
    assert r.status_code == 200, r.text
    root = ET.fromstring(r.content)
    assert root.tag == f"{{{CAT}}}Catalog"
    assert root.get("ID", "").startswith("scandepot-list-P1-E2-QA-")
    (entry,) = root.findall("cat:entries/cat:entry", NS)
    body = b"qa report E2"
    path = "S1/E2/resources/QA/files/report.txt"
    assert entry.get("URI") == (
        "http://testserver/api/v1/projects/P1/sessions/E2/resources/QA/files/report.txt"
    )
    assert (entry.get("ID"), entry.get("cachePath"), entry.get("name")) == (
        path,
        path,
        "report.txt",
    )
    assert entry.get("digest") == hashlib.md5(body).hexdigest()
    assert entry.get(f"{{{SD}}}sha256") == hashlib.sha256(body).hexdigest()
    meta = {m.get("name"): m.text for m in entry.findall("cat:metaFields/cat:metaField", NS)}
    assert meta == {"SIZE": str(len(body)), "RELATIVE_PATH": path}


def test_list_routes_refuse_as_downloads_do(client: TestClient, world: World) -> None:
    r = client.get(f"{BASE}/download-list?sessions=E9", auth=ADMIN)
    assert r.status_code == 404
    assert r.json()["error"]["field"] == "sessions"
    r = client.get(f"{BASE}/sessions/E1/scans/1/download-list?layout=bids", auth=ADMIN)
    assert r.status_code == 422
    assert client.get(f"{BASE}/download-list").status_code == 401  # a private project


def test_save_as_list_on_the_download_page(client: TestClient, world: World) -> None:
    page = client.get("/download?project=P1", auth=ADMIN)
    assert 'name="save" value="list"' in page.text
    form = "/download/archive?project=P1&session=E1&resource=QA&layout=xnat&format=zip"
    r = client.get(form + "&save=list", follow_redirects=False)
    assert r.status_code == 303
    where = urlsplit(r.headers["location"])
    assert where.path == "/api/v1/projects/P1/download-list"
    assert sorted(parse_qsl(where.query)) == [
        ("layout", "xnat"),
        ("resources", "QA"),
        ("sessions", "E1"),
    ]
    doc = parse(client.get(r.headers["location"], auth=ADMIN).content)
    assert [e.path for e in doc.entries] == ["E1/resources/QA/files/report.txt"]
    plain = client.get(form, follow_redirects=False).headers["location"]
    assert urlsplit(plain).path == "/api/v1/projects/P1/download"


def test_written_list_reads_back() -> None:
    entries = [
        ListEntry("http://h/api/v1/f?a=1&b=<2>", 'S1/x "q" & <y>.dcm', 0, SHA, MD5),
        ListEntry("/api/v1/g", "S1/sub/z.nii.gz", 12345678901, "0" * 64),
    ]
    doc = DownloadList(entries, list_id="L", description="d & <e>", server="http://h")
    back = parse(to_xml(doc))
    assert back.entries == entries
    assert (back.list_id, back.description, back.server) == ("L", "d & <e>", "http://h")


def test_xnat_nested_catalogs_are_read() -> None:
    """XNAT's download catalogs hold one catalog a session in cat:sets/cat:entrySet."""
    inner = (
        f'<cat:entrySet xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        f'xsi:type="cat:Catalog" ID="E1"><cat:entries>{entry_xml(path="E1/a")}'
        f"</cat:entries></cat:entrySet>"
    )
    body = (
        f'<cat:Catalog xmlns:cat="{CAT}" xmlns:sd="{SD}"><cat:sets>{inner}</cat:sets>'
        f"<cat:entries>{entry_xml(path='top/b')}</cat:entries></cat:Catalog>"
    ).encode()
    assert [e.path for e in parse(body).entries] == ["E1/a", "top/b"]


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;">]>
<cat:Catalog xmlns:cat="http://nrg.wustl.edu/catalog">&lol2;</cat:Catalog>"""
EXTERNAL = b"""<?xml version="1.0"?>
<!DOCTYPE c [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<cat:Catalog xmlns:cat="http://nrg.wustl.edu/catalog">&x;</cat:Catalog>"""

BAD = [
    (b"", "not well-formed XML"),
    (b"this is not xml", "not well-formed XML"),
    (b'{"files": []}', "not well-formed XML"),
    (document(entry_xml()) + b"<trailing/>", "not well-formed XML"),
    (BILLION_LAUGHS, "document type declaration is not accepted"),
    (EXTERNAL, "document type declaration is not accepted"),
    (b'<manifest xmlns:cat="x"/>', "root is 'manifest', not cat:Catalog"),
    (b'<c:Catalog xmlns:c="http://example.org/other"/>', "root is 'Catalog', not cat:Catalog"),
    (document(), "names no files"),
    (document(entry_xml(uri="")), "Entry 1 has no URI"),
    (document(entry_xml(path="")), "Entry 1 (http://h/api/v1/x) has no path"),
    (document(entry_xml(), entry_xml(path="S1/../../etc/cron.d/x")), "Entry 2: the path"),
    (document(entry_xml(path="../outside")), "'..' part"),
    (document(entry_xml(path="/etc/passwd")), "is absolute"),
    (document(entry_xml(path="C:/Windows/x")), "is absolute"),
    (document(entry_xml(path="S1\\..\\x")), "holds a backslash"),
    (document(entry_xml(path="S1//x")), "has an empty"),
    (document(entry_xml(path="S1/&#10;x")), "holds a control character"),
    (document(entry_xml(size="12kB")), "the size '12kB' is not a number"),
    (document(entry_xml(size="-1")), "the size '-1' is not a number"),
    (document(entry_xml(size=None)), "has no SIZE metaField"),  # type: ignore[arg-type]
    (document(entry_xml(sha256="")), "has no SHA-256"),
    (document(entry_xml(sha256="ab" * 31)), "has no SHA-256"),
    (document(entry_xml(extra=' digest="xyz"')), "the digest is not an MD5"),
    (document(entry_xml(path="S1/a"), entry_xml(path="S1/a")), "Entries 1 and 2 both go to"),
    (document(entry_xml(path="S1/a"), entry_xml(path="S1/a/b")), "'S1/a' is both a file"),
    (document(entry_xml()), None),  # a sound list: the control case
]


@pytest.mark.parametrize(("body", "message"), BAD)
def test_bad_lists_are_refused_saying_why(body: bytes, message: str | None) -> None:
    if message is None:
        assert [e.path for e in parse(body).entries] == ["S1/a.dcm"]
        return
    with pytest.raises(Invalid) as refused:
        parse(body)
    assert message in refused.value.message
    assert refused.value.field == "list"


def test_deep_nesting_is_refused() -> None:
    deep = b"<x>" * 40 + b"</x>" * 40
    body = f'<cat:Catalog xmlns:cat="{CAT}">'.encode() + deep + b"</cat:Catalog>"
    with pytest.raises(Invalid, match="nests deeper than 32"):
        parse(body)


def test_huge_lists_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    body = document(*(entry_xml(path=f"S1/{i}.dcm") for i in range(4)))
    assert len(parse(body).entries) == 4
    monkeypatch.setattr(list_format, "MAX_ENTRIES", 3)
    with pytest.raises(Invalid, match="more than 3 entries"):
        parse(body)
    monkeypatch.setattr(list_format, "MAX_BYTES", len(body) - 1)
    with pytest.raises(Invalid, match=f"larger than {len(body) - 1} bytes"):
        parse(body)
