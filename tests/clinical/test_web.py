"""Clinical data on the pages: the subject page's record with units, the Manage tab's
schemas, export links and CSV import with its report."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from scandepot.access.actors import SYSTEM
from scandepot.clinical import records
from scandepot.clinical.records import Target
from scandepot.context import Context
from tests.clinical.world import make_subjects, set_schemas
from tests.web.test_pages import _signed_in

P = "/projects/P"


def test_subject_page_and_manage_tab(
    ctx: Context, client: TestClient, make_project: Callable[..., str]
) -> None:
    make_project(label="P")
    make_subjects(ctx, "P", "S1", "S2")
    token = _signed_in(client, "owner")
    assert "Clinical data" not in client.get(P + "/subjects/S1").text  # no schema yet
    tab = client.get(P + "?tab=manage").text
    assert 'id="clinical"' in tab and "export?format=csv" not in tab
    set_schemas(ctx, "P")
    records.put(ctx, SYSTEM, Target("P", "S1"), {"weight": 70.5, "diagnosis": "AD", "smoker": True})
    page = client.get(P + "/subjects/S1").text
    assert "<td>weight</td><td>70.5</td><td>kg</td>" in page
    assert "<td>smoker</td><td>yes</td><td></td>" in page
    assert "<td>age</td><td>–</td><td>years</td>" in page
    assert "Version 1," in page and "by system" in page
    assert "No clinical record yet." in client.get(P + "/subjects/S2").text
    tab = client.get(P + "?tab=manage").text
    assert "version 1" in tab and "weight (kg)" in tab
    assert 'href="/api/v1/projects/P/clinical/export?format=csv&amp;deidentified=true"' in tab
    r = client.get("/api/v1/projects/P/clinical/export?format=csv")  # by the page's cookie
    assert r.status_code == 200 and r.text.startswith("subject,weight")

    r = client.post(
        P + "/clinical/import",
        data={"csrf_token": token, "mode": "merge"},
        files={"file": ("c.csv", b"subject,diagnosis\nS2,HC\n", "text/csv")},
    )
    assert r.status_code == 200 and "Imported: 1 created." in r.text
    r = client.post(
        P + "/clinical/import",
        data={"csrf_token": token},
        files={"file": ("c.csv", b"subject,diagnosis\nS1,flu\nS9,AD\n", "text/csv")},
    )
    assert r.status_code == 422 and "Nothing was written" in r.text
    assert "<td>3</td><td>S9</td><td>refused</td><td>subject: no subject &#39;S9&#39;" in r.text
    r = client.post(
        P + "/clinical/import",
        data={"csrf_token": token},
        files={"file": ("c.csv", "subject,diagnosis\nS1,Caf\xe9\n".encode("latin-1"), "text/csv")},
    )
    assert r.status_code == 422 and "Save it as UTF-8" in r.text
