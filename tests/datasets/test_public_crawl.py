"""What an anonymous visitor can reach of a published dataset tells nothing of an
individual: every page, API answer and feed reachable from the catalogue, links followed,
is searched for every label, ID, UID, name, date and file path of the data underneath."""

from __future__ import annotations

import html
import json
import re
from collections import deque
from typing import Any
from urllib.parse import urldefrag, urlsplit

from fastapi.testclient import TestClient
from sqlalchemy import select

from scandepot.catalog.archive import File, Scan, Session, Subject
from scandepot.catalog.datasets import DatasetFile, VersionState
from scandepot.catalog.prearchive import Instance
from scandepot.context import Context
from tests.datasets import published
from tests.datasets.conftest import Cohort

SITE = "http://127.0.0.1:8080"  # the settings' public_url: absolute links in the feeds
STARTS = ("/", "/datasets", "/api/v1/catalogue", "/api/v1/catalogue/feeds/dcat")
MAX_URLS = 400


def underlying(ctx: Context, cohort: Cohort) -> set[str]:
    """Everything of the data underneath that must never be shown: the cohort's own list
    (labels, UIDs, names, dates, clinical free text) and the catalogue's rows for it."""
    found = set(cohort.secrets)
    with ctx.db.read() as db:
        for model in (Subject, Session):
            found.update(db.scalars(select(model.stable_id)))
            found.update(db.scalars(select(model.label)))
        found.update(s for s in db.scalars(select(Session.StudyInstanceUID)) if s)
        found.update(s for s in db.scalars(select(Scan.SeriesInstanceUID)) if s)
        found.update(db.scalars(select(Instance.SOPInstanceUID)))
        found.update(db.scalars(select(DatasetFile.path)))
        found.update(db.scalars(select(File.path)))
        found.update(p.rsplit("/", 1)[-1] for p in db.scalars(select(File.path)))
        found.update(s for s in db.scalars(select(File.sha256)))
    return {s for s in found if s}


def links(body: str, content_type: str) -> list[str]:
    if "json" in content_type:
        out: list[str] = []
        _strings(json.loads(body), out)
        return out
    return [html.unescape(u) for u in re.findall(r'(?:href|src|action)="([^"]+)"', body)]


def _strings(value: Any, out: list[str]) -> None:
    if isinstance(value, dict):
        for v in value.values():
            _strings(v, out)
    elif isinstance(value, list):
        for v in value:
            _strings(v, out)
    elif isinstance(value, str) and value.startswith(("/", SITE)):
        out.append(value)


def local(url: str) -> str | None:
    """``url`` as a path on this site, or None for another site's."""
    url = urldefrag(url).url
    if url.startswith(SITE):
        url = url[len(SITE) :] or "/"
    parts = urlsplit(url)
    if parts.scheme or parts.netloc or not url.startswith("/"):
        return None
    return url


def crawl(client: TestClient, auth: Any = None) -> dict[str, str]:
    """Every URL reachable from STARTS with its answer's text (those that answer 200)."""
    seen: dict[str, str] = {}
    queue = deque(STARTS)
    visited: set[str] = set()
    while queue and len(visited) < MAX_URLS:
        url = queue.popleft()
        if url in visited:
            continue
        visited.add(url)
        r = client.get(url, auth=auth, follow_redirects=False)
        if r.status_code != 200 or url.startswith("/static/"):
            continue
        seen[url] = r.text
        for found in links(r.text, r.headers.get("content-type", "")):
            path = local(found)
            if path is not None and path not in visited:
                queue.append(path)
    return seen


def leaks(seen: dict[str, str], secrets: set[str]) -> list[tuple[str, str]]:
    """Each secret found as a whole token (not inside a longer run of letters and digits:
    a birth year such as 1953 must not be found in the microseconds of a timestamp)."""
    found = []
    for s in secrets:
        token = re.compile(rf"(?<![0-9A-Za-z]){re.escape(s)}(?![0-9A-Za-z])")
        found += [(url, s) for url, text in seen.items() if token.search(text)]
    return found


def test_nothing_of_an_individual_is_reachable_anonymously(
    ctx: Context, client: TestClient, cohort: Cohort, actors: dict[str, Any]
) -> None:
    stable_id, _ = published.publish(ctx, cohort.session_ids, name="cohort-one")
    # A second version of it, only released: its address must not answer.
    published.publish(
        ctx,
        cohort.session_ids[:4],
        dataset_id=_dataset_id(ctx, stable_id),
        state=VersionState.RELEASED,
    )
    secrets = underlying(ctx, cohort)
    assert len(secrets) > 100
    seen = crawl(client)
    reached = set(seen)
    assert {
        f"/datasets/{stable_id}/v1",
        f"/datasets/{stable_id}",
        f"/api/v1/catalogue/{stable_id}/versions/1",
        f"/api/v1/catalogue/{stable_id}/versions/1/dcat",
        f"/api/v1/catalogue/{stable_id}/versions/1/schema-org",
        "/api/v1/catalogue/feeds/dcat?page=1",
    } <= reached
    assert not any("/v2" in url or "/versions/2" in url for url in reached)
    assert "Brain development cohort" in seen[f"/datasets/{stable_id}/v1"]
    assert '"subjects":12' in seen[f"/api/v1/catalogue/{stable_id}/versions/1"]
    assert leaks(seen, secrets) == []
    # The same check finds them where they are shown: the project's own page.
    own = client.get(f"/projects/{cohort.project}?tab=subjects", auth=actors["admin"])
    assert leaks({"own": own.text}, secrets)


def _dataset_id(ctx: Context, stable_id: str) -> int:
    from scandepot.catalog.datasets import Dataset

    with ctx.db.read() as db:
        found = db.scalar(select(Dataset.id).where(Dataset.stable_id == stable_id))
    assert found is not None
    return found
