"""The public catalogue: what is listed, search, paging, a version's stable address, what
is not there, the pages and the feeds (read as RDF by rdflib, as a harvester would)."""

from __future__ import annotations

import datetime as dt
import json
import warnings
from typing import Any

import pytest
import rdflib
from fastapi.testclient import TestClient
from rdflib.namespace import DCTERMS, RDF

from scandepot.catalog.datasets import VersionState
from scandepot.context import Context
from scandepot.datasets import feed
from tests.datasets.published import listed

API = "/api/v1/catalogue"
P, W, D, R = (
    VersionState.PUBLISHED,
    VersionState.WITHDRAWN,
    VersionState.DRAFT,
    VersionState.RELEASED,
)
HYDRA = rdflib.Namespace("http://www.w3.org/ns/hydra/core#")
DCAT = rdflib.Namespace("http://www.w3.org/ns/dcat#")  # DCAT 3: rdflib's knows DCAT 2


@pytest.fixture
def shelf(ctx: Context) -> dict[str, str]:
    """Four datasets: two published (one with a newer draft, one at version 2), one whose
    only version is released, one whose only version was withdrawn."""
    day = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    return {
        "brain": listed(
            ctx,
            "brain",
            title="Développement cérébral",
            states=(P, D),
            keywords=("Neurodevelopment",),
            published_at=day,
        ),
        "knee": listed(
            ctx,
            "knee",
            title="Knee cartilage",
            states=(P, P),
            modalities=("MR", "CT"),
            body_parts=("KNEE",),
            published_at=day + dt.timedelta(days=1),
        ),
        "hidden": listed(ctx, "hidden", title="Not yet public", states=(R,)),
        "gone": listed(ctx, "gone", title="Withdrawn one", states=(W,)),
    }


def names(r: Any) -> list[str]:
    assert r.status_code == 200, r.text
    return [item["name"] for item in r.json()["items"]]


def test_lists_the_latest_published_version_of_each_dataset(
    client: TestClient, shelf: dict[str, str]
) -> None:
    r = client.get(API)
    assert names(r) == ["knee", "brain"]  # newest first; no draft, release or withdrawal
    knee = r.json()["items"][0]
    assert knee["version"] == 2 and knee["id"] == shelf["knee"]
    assert knee["counts"]["subjects"] == 20 and knee["modalities"] == ["MR", "CT"]
    page = client.get(API, params={"limit": 1, "offset": 1}).json()
    assert (page["total"], [i["name"] for i in page["items"]]) == (2, ["brain"])
    assert names(client.get(API, params={"sort": "name"})) == ["brain", "knee"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"q": "cérébral"}, ["brain"]),  # any case, any script
        ({"q": "CÉRÉBR"}, ["brain"]),  # the start of a word
        ({"q": "cartilage knee"}, ["knee"]),  # every word
        ({"q": "cartilage cérébral"}, []),
        ({"q": "CARTILAGE"}, ["knee"]),
        ({"q": "knee"}, ["knee"]),  # its name
        ({"keyword": "neurodevelopment"}, ["brain"]),
        ({"keyword": "neuro"}, []),  # a keyword is matched whole
        ({"modality": "ct"}, ["knee"]),
        ({"modality": "MR"}, ["knee", "brain"]),
        ({"body_part": "brain"}, ["brain"]),
        ({"body_part": "knee", "modality": "MR"}, ["knee"]),
        ({"q": "50%_"}, []),  # LIKE's wildcards are plain characters
        ({"q": "withdrawn"}, []),
    ],
)
def test_search(
    client: TestClient, shelf: dict[str, str], params: dict[str, str], expected: list[str]
) -> None:
    assert names(client.get(API, params=params)) == expected


def test_a_version_at_its_stable_address(client: TestClient, shelf: dict[str, str]) -> None:
    knee = shelf["knee"]
    one = client.get(f"{API}/{knee}/versions/1").json()
    assert (one["version"], one["state"], one["latest"]) == (1, "published", 2)
    assert [v["version"] for v in one["versions"]] == [1, 2]
    assert one["aggregates"] is None  # superseded: two versions' figures could be subtracted
    latest = client.get(f"{API}/{knee}").json()
    assert latest["version"] == 2  # the latest
    assert latest["aggregates"]["counts"]["subjects"] == 20 and "search" not in latest["aggregates"]
    assert client.get(f"{API}/knee/versions/2").json()["id"] == knee  # the name works too
    gone = client.get(f"{API}/{shelf['gone']}").json()
    assert (gone["state"], gone["aggregates"]) == ("withdrawn", None)


def test_what_is_not_published_is_not_there(
    client: TestClient, actors: dict[str, Any], shelf: dict[str, str]
) -> None:
    for url in (
        f"{API}/{shelf['brain']}/versions/2",  # a draft
        f"{API}/{shelf['hidden']}",  # only released
        f"{API}/{shelf['hidden']}/versions/1",
        f"{API}/SD_D99999",
        f"{API}/{shelf['brain']}/versions/2/dcat",
    ):
        assert client.get(url).status_code == 401, url
        for who in ("outsider", "admin"):  # the owners' pages show drafts; not this one
            assert client.get(url, auth=actors[who]).status_code == 404, (url, who)


def test_pages(client: TestClient, shelf: dict[str, str]) -> None:
    r = client.get("/datasets")
    assert r.status_code == 200 and "Knee cartilage" in r.text and "Not yet public" not in r.text
    assert "Développement cérébral" in client.get("/datasets", params={"q": "cérébral"}).text
    knee = shelf["knee"]
    page = client.get(f"/datasets/{knee}/v1")
    assert page.status_code == 200 and "A newer version is published" in page.text
    assert f'rel="canonical" href="http://127.0.0.1:8080/datasets/{knee}/v1"' in page.text
    latest = client.get(f"/datasets/{knee}")
    assert latest.status_code == 200 and f"/datasets/{knee}/v2" in latest.text
    gone = client.get(f"/datasets/{shelf['gone']}/v1")
    assert gone.status_code == 200 and "was withdrawn" in gone.text
    draft = client.get(f"/datasets/{shelf['brain']}/v2", follow_redirects=False)
    assert draft.status_code == 303 and draft.headers["location"].startswith("/login")


def graph(body: dict[str, Any]) -> rdflib.Graph:
    """``body`` read as RDF. rdflib's JSON-LD parser calls its own deprecated names."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="rdflib")
        return rdflib.Graph().parse(data=json.dumps(body), format="json-ld")


def test_dcat_feed_pages_as_harvesters_read_it(
    ctx: Context, client: TestClient, shelf: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(feed, "PER_PAGE", 1)
    first = client.get(f"{API}/feeds/dcat")
    assert first.headers["content-type"].startswith("application/ld+json")
    g = graph(first.json())
    catalog = next(g.subjects(RDF.type, DCAT.Catalog))
    datasets = list(g.objects(catalog, DCAT.dataset))
    assert [str(d) for d in datasets] == [f"http://127.0.0.1:8080/datasets/{shelf['knee']}/v2"]
    assert str(g.value(datasets[0], DCTERMS.title)) == "Knee cartilage"
    assert str(g.value(datasets[0], DCAT.version)) == "2"
    paging = next(g.subjects(RDF.type, HYDRA.PagedCollection))
    assert int(g.value(paging, HYDRA.totalItems)) == 2
    following = str(g.value(paging, HYDRA.nextPage)).removeprefix("http://127.0.0.1:8080")
    g2 = graph(client.get(following).json())
    (second,) = g2.subjects(RDF.type, DCAT.Dataset)
    assert str(g2.value(second, DCTERMS.title)) == "Développement cérébral"
    paging2 = next(g2.subjects(RDF.type, HYDRA.PagedCollection))
    assert g2.value(paging2, HYDRA.nextPage) is None
    assert client.get(f"{API}/feeds/dcat", params={"page": 0}).status_code == 422


def test_a_version_as_dcat_and_schema_org(client: TestClient, shelf: dict[str, str]) -> None:
    brain = shelf["brain"]
    g = graph(client.get(f"{API}/{brain}/versions/1/dcat").json())
    (node,) = g.subjects(RDF.type, DCAT.Dataset)
    assert str(node) == f"http://127.0.0.1:8080/datasets/{brain}/v1"
    assert {str(k) for k in g.objects(node, DCAT.keyword)} == {"Neurodevelopment"}
    assert g.value(node, DCTERMS.accessRights) == rdflib.URIRef(feed.RESTRICTED)
    assert g.value(node, DCAT.isVersionOf) == rdflib.URIRef(
        f"http://127.0.0.1:8080/datasets/{brain}"
    )
    s = client.get(f"{API}/{brain}/versions/1/schema-org").json()
    assert (s["@type"], s["name"], s["version"]) == ("Dataset", "Développement cérébral", "1")
    sg = graph(s)
    schema = rdflib.Namespace("https://schema.org/")
    assert (None, RDF.type, schema.Dataset) in sg
    page = client.get(f"/datasets/{brain}/v1").text  # the page carries it too
    embedded = page.split('<script type="application/ld+json">')[1].split("</script>")[0]
    assert json.loads(embedded) == s


def test_metadata_cannot_break_out_of_the_embedded_description(
    ctx: Context, client: TestClient
) -> None:
    title = "</script><script>alert(1)</script><!--"
    stable_id = listed(ctx, "tricky", title=title)
    page = client.get(f"/datasets/{stable_id}/v1").text
    assert "<script>alert(1)" not in page
    embedded = page.split('<script type="application/ld+json">')[1].split("</script>")[0]
    assert json.loads(embedded)["name"] == title
