"""De-identification on the project's Manage tab: the scripts (the editor keeps what was
typed and names the line of a mistake, versions, on and off, the test on a sample
instance with its before/after table) and the pseudonym table (import with each bad row
named, export, clear)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from markupsafe import escape

from scandepot.access.actors import SYSTEM
from scandepot.context import Context
from scandepot.deid import manage, pseudonyms
from tests.deid.project_world import CTP_BROKEN, CTP_NAME_ONLY, PROFILE, archive_mr_small, mr_small
from tests.web.test_pages import _signed_in

P = "/projects/P"
EDITOR = P + "/deid/scripts/archive"


def test_the_manage_tab_and_the_editor(
    ctx: Context, client: TestClient, make_project: Callable[..., str]
) -> None:
    make_project(label="P")
    token = _signed_in(client, "owner")
    tab = client.get(P + "?tab=manage").text
    assert 'id="deid"' in tab and "The table is empty." in tab
    assert f'href="{EDITOR}"' in tab and "Write one…" in tab

    page = client.get(EDITOR)
    assert page.status_code == 200 and "None saved yet." in page.text
    r = client.post(
        EDITOR,
        data={"kind": "ctp", "text": CTP_BROKEN, "enabled": "on", "csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 422
    assert "line 3" in r.text and 'aria-invalid="true"' in r.text
    assert str(escape(CTP_BROKEN)) in r.text  # what was typed, kept
    assert manage.versions(ctx, SYSTEM, "P", "archive") == []

    r = client.post(
        EDITOR,
        data={"kind": "profile", "text": PROFILE, "enabled": "on", "csrf_token": token},
        follow_redirects=False,
    )
    assert (r.status_code, r.headers["location"]) == (303, EDITOR)
    page = client.get(EDITOR).text
    assert "Version 1 is in force." in page and "In force: version 1 (profile" in page
    assert str(escape(PROFILE)) in page
    tab = client.get(P + "?tab=manage").text
    assert "on: version 1" in tab

    r = client.post(EDITOR + "/enabled", data={"csrf_token": token})
    assert "The archive script is off (version 2)." in r.text
    assert "off (version 2)" in client.get(P + "?tab=manage").text
    newest = manage.newest(ctx, SYSTEM, "P", "archive")
    assert newest is not None and not newest.enabled
    page = client.get(EDITOR + "?version=1").text
    assert "Shown: version 1" in page


def test_a_test_on_a_sample_instance_shows_the_table(
    ctx: Context, client: TestClient, make_project: Callable[..., str]
) -> None:
    make_project(label="P")
    archived = archive_mr_small(ctx, "P")
    token = _signed_in(client, "owner")
    r = client.post(
        EDITOR + "/test",
        data={"kind": "ctp", "text": CTP_NAME_ONLY, "csrf_token": token},
        files={"file": ("MR_small.dcm", mr_small().read_bytes(), "application/dicom")},
    )
    assert r.status_code == 200, r.text
    assert "Test: MR_small.dcm" in r.text and "Script: not saved." in r.text
    assert (
        '<tr class="deid-emptied"><td><code>(0010,0010)</code></td><td>PatientName</td>' in r.text
    )
    assert "<td>CompressedSamples^MR1</td>" in r.text
    assert str(escape(CTP_NAME_ONLY)) in r.text  # the editor keeps the text
    assert "Not de-identified" in r.text  # the Patient ID is left

    r = client.post(
        EDITOR + "/test",
        data={
            "kind": "ctp",
            "text": CTP_NAME_ONLY,
            "session": archived.session,
            "csrf_token": token,
        },
    )
    assert r.status_code == 200 and f"Test: session {archived.session}" in r.text
    r = client.post(
        EDITOR + "/test", data={"kind": "ctp", "text": CTP_NAME_ONLY, "csrf_token": token}
    )
    assert r.status_code == 422 and "Choose a DICOM file, or name an archived session." in r.text


def test_the_pseudonym_table_on_the_tab(
    ctx: Context, client: TestClient, make_project: Callable[..., str]
) -> None:
    make_project(label="P")
    token = _signed_in(client, "owner")
    table = b"kind,original,pseudonym\nptid,4MR1,SUBJ-001\nptname,Doe^Jane,Subject^One\n"
    r = client.post(
        P + "/deid/pseudonyms",
        data={"mode": "merge", "csrf_token": token},
        files={"file": ("table.csv", table, "text/csv")},
    )
    assert "Pseudonym table merged: 2 added, 0 unchanged, 0 removed; 2 in all." in r.text
    assert "1 ptid, 1 ptname." in r.text
    r = client.post(
        P + "/deid/pseudonyms",
        data={"mode": "replace", "csrf_token": token},
        files={"file": ("bad.csv", b"ptid,A,P1\nptid,A,P2\n", "text/csv")},
    )
    assert r.status_code == 422
    assert "<td>line 2</td><td>ptid original &#39;A&#39; is also on line 1</td>" in r.text
    assert pseudonyms.counts(ctx, SYSTEM, "P") == {"ptid": 1, "ptname": 1}
    r = client.get(P + "/deid/pseudonyms.csv")
    assert r.status_code == 200 and r.content == table
    assert "attachment" in r.headers["content-disposition"]
    r = client.post(P + "/deid/pseudonyms/clear", data={"csrf_token": token})
    assert "The pseudonym table is cleared (2 removed)." in r.text
