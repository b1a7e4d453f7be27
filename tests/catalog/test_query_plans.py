"""Every listing and search keeps flat as the catalog grows: PostgreSQL's plan of each
statement a listing runs reads no big table whole.

A PostgreSQL catalog is bulk-loaded once for the module (bench/catalog_fill.py: the rows
archiving writes), then each path in :data:`PATHS` is asked through the application (or
the C-FIND service) while its SQL is captured; each SELECT is explained and judged by
:mod:`.plan_check`. A new listing joins :data:`PATHS`. ``SCANDEPOT_PLAN_STUDIES`` makes
the catalog bigger (default 10,000 studies of 2 series of 2 instances in 20 projects: as
many sessions as a million instances come in, which is what most listings' plans weigh).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydicom import Dataset

from scandepot.access import roles, users
from scandepot.access.actors import SYSTEM, Actor
from scandepot.access.users import UserCreate
from scandepot.app import create_app
from scandepot.catalog.access import Role
from scandepot.context import Context
from scandepot.db.engine import Database
from scandepot.db.migrate import upgrade
from scandepot.query.attributes import Level
from scandepot.query.scope import Scope
from scandepot.query.search import from_identifier, search
from scandepot.settings import Settings
from scandepot.storage.store import FileStore
from tests.catalog import plan_check
from tests.conftest import PASSWORD
from tests.pg import fresh_database

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.catalog_fill import UID_ROOT, fill  # noqa: E402

STUDIES = int(os.environ.get("SCANDEPOT_PLAN_STUDIES", "10000"))
PROJECT = "FILL0001"
SUBJECT = "sub-000001"
SESSION = "ses-0000001"
SESSION_ID = "SD_E00001"
STUDY = f"{UID_ROOT}.1"
SERIES = f"{UID_ROOT}.1.1"
MEMBER = ("member", PASSWORD)
ADMIN = ("admin", PASSWORD)
MR = "xnat:mrSessionData"


@dataclass(frozen=True)
class Catalog:
    ctx: Context
    client: TestClient
    member: Actor
    sizes: dict[str, float]


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Catalog]:
    with fresh_database("scandepot_plans", durable=False) as url:
        db = Database(url)
        try:
            upgrade(db)
            fill(db.engine, STUDIES, 2, series_per_study=2, studies_per_project=STUDIES // 20)
            data = tmp_path_factory.mktemp("plans")
            settings = Settings(data_dir=data, database_url=url, admin_password=PASSWORD)
            ctx = Context(settings, db, FileStore(data))
            ctx.store.ensure()
            made = {}
            for login in ("member", "admin"):
                made[login], _ = users.create(
                    ctx,
                    SYSTEM,
                    UserCreate(login=login, password=PASSWORD, site_admin=login == "admin"),
                )
            roles.set_role(ctx, SYSTEM, PROJECT, "member", Role.MEMBER)
            member = Actor(user_id=made["member"].id, login="member")
            with TestClient(create_app(ctx=ctx, install_pipelines=False)) as client:
                yield Catalog(ctx, client, member, plan_check.table_rows(db.engine))
        finally:
            db.dispose()


def _get(url: str, auth: tuple[str, str] = MEMBER) -> Callable[[Catalog], None]:
    def run(catalog: Catalog) -> None:
        r = catalog.client.get(url, auth=auth)
        assert r.status_code == 200, f"{url}: {r.status_code} {r.text[:300]}"

    return run


def _follow(url: str, pages: int = 3) -> Callable[[Catalog], None]:
    """A listing paged by its cursor: each page read after the one before."""

    def run(catalog: Catalog) -> None:
        after = ""
        for _ in range(pages):
            r = catalog.client.get(url + after, auth=MEMBER)
            assert r.status_code == 200 and r.json()["next"], f"{url}: {r.text[:300]}"
            after = f"&after={r.json()['next']}"

    return run


def _search(body: bytes, auth: tuple[str, str] = MEMBER) -> Callable[[Catalog], None]:
    def run(catalog: Catalog) -> None:
        r = catalog.client.post("/data/search", params={"format": "json"}, content=body, auth=auth)
        assert r.status_code == 200, r.text[:300]

    return run


def _find(level: Level, **keys: str) -> Callable[[Catalog], None]:
    """A C-FIND as the receiver's Q/R service runs it (dimse.find), site-wide."""

    def run(catalog: Catalog) -> None:
        identifier = Dataset()
        identifier.QueryRetrieveLevel = level.value
        for keyword in ("StudyInstanceUID", "PatientID", "PatientName", "StudyDate"):
            setattr(identifier, keyword, keys.get(keyword, ""))
        if level in (Level.SERIES, Level.IMAGE):
            identifier.SeriesInstanceUID = keys.get("SeriesInstanceUID", "")
        if level == Level.IMAGE:
            identifier.SOPInstanceUID = ""
        search(catalog.ctx, Scope(catalog.member), from_identifier(identifier, level))

    return run


def _xnat_search(row: str, columns: list[str], constraints: list[Any]) -> bytes:
    from pyxnat.core.search import build_search_document

    document: bytes = build_search_document(row, columns, constraints)
    return document


P = f"/api/v1/projects/{PROJECT}"
S = f"{P}/sessions/{SESSION}"
X = f"/data/projects/{PROJECT}"
Q = "/dicomweb"
QP = f"/dicomweb/projects/{PROJECT}"

PATHS: dict[str, Callable[[Catalog], None]] = {
    # Native API
    "v1 projects": _get("/api/v1/projects"),
    "v1 project": _get(P),
    "v1 subjects": _get(f"{P}/subjects"),
    "v1 subjects deep page": _get(f"{P}/subjects?offset=150&limit=20"),
    "v1 subjects by cursor": _follow(f"{P}/subjects?limit=20"),
    "v1 subject": _get(f"{P}/subjects/{SUBJECT}"),
    "v1 sessions": _get(f"{P}/sessions"),
    "v1 sessions by date": _get(f"{P}/sessions?sort=-date&limit=20"),
    "v1 sessions deep page": _get(f"{P}/sessions?offset=90&limit=10"),
    "v1 sessions by cursor": _follow(f"{P}/sessions?limit=10"),
    "v1 sessions by date by cursor": _follow(f"{P}/sessions?sort=-date&limit=10"),
    "v1 sessions of a subject": _get(f"{P}/sessions?subject={SUBJECT}"),
    "v1 session": _get(S),
    "v1 scans": _get(f"{S}/scans"),
    "v1 scan": _get(f"{S}/scans/1"),
    "v1 scan resources": _get(f"{S}/scans/1/resources"),
    "v1 scan files": _get(f"{S}/scans/1/resources/DICOM/files"),
    "v1 session resources": _get(f"{S}/resources"),
    "v1 session manifest": _get(f"{S}/manifest"),
    "v1 scan manifest": _get(f"{S}/scans/1/manifest"),
    "v1 session download list": _get(f"{S}/download-list"),
    "v1 jobs": _get(f"{P}/jobs"),
    "v1 prearchive": _get("/api/v1/prearchive"),
    "v1 audit": _get("/api/v1/audit?limit=50", ADMIN),
    "v1 audit of a project": _get(f"/api/v1/audit?project={PROJECT}&limit=50", ADMIN),
    "v1 members": _get(f"{P}/users"),
    # XNAT-compatible
    "xnat projects": _get("/data/projects?format=json"),
    "xnat project": _get(f"{X}?format=json"),
    "xnat subjects": _get(f"{X}/subjects?format=json"),
    "xnat site subjects": _get("/data/subjects?format=json"),
    "xnat experiments": _get(f"{X}/experiments?format=json"),
    "xnat subject experiments": _get(f"{X}/subjects/{SUBJECT}/experiments?format=json"),
    "xnat site experiments": _get("/data/experiments?format=json"),
    "xnat experiment": _get(f"/data/experiments/{SESSION_ID}?format=json"),
    "xnat scans": _get(f"/data/experiments/{SESSION_ID}/scans?format=json"),
    "xnat scan files": _get(
        f"/data/experiments/{SESSION_ID}/scans/1/resources/DICOM/files?format=json"
    ),
    "xnat session files": _get(f"/data/experiments/{SESSION_ID}/files?format=json"),
    "xnat prearchive": _get("/data/prearchive/projects?format=json"),
    "xnat search sessions of a project": _search(
        _xnat_search(MR, [f"{MR}/LABEL"], [(f"{MR}/PROJECT", "=", PROJECT), "AND"])
    ),
    "xnat search sessions by label": _search(
        _xnat_search(MR, [f"{MR}/LABEL"], [(f"{MR}/LABEL", "LIKE", "ses-000001%"), "AND"])
    ),
    # DICOMweb QIDO-RS
    "qido studies": _get(f"{Q}/studies"),
    "qido studies by patient": _get(f"{Q}/studies?PatientID=PAT0000001"),
    "qido studies by name": _get(f"{Q}/studies?PatientName=Subject^00000*"),
    "qido studies by date": _get(f"{Q}/studies?StudyDate=20200101-20200301"),
    "qido studies by uid": _get(f"{Q}/studies?StudyInstanceUID={STUDY}"),
    "qido studies deep page": _get(f"{Q}/studies?offset=90&limit=10"),
    "qido project studies": _get(f"{QP}/studies"),
    "qido series of a study": _get(f"{Q}/studies/{STUDY}/series"),
    "qido site series": _get(f"{Q}/series?limit=20"),
    "qido instances of a series": _get(f"{Q}/studies/{STUDY}/series/{SERIES}/instances"),
    "qido instances of a study": _get(f"{Q}/studies/{STUDY}/instances"),
    "qido site instances": _get(f"{Q}/instances?limit=20"),
    # DIMSE C-FIND
    "c-find patients": _find(Level.PATIENT, PatientID="PAT0000001"),
    "c-find studies by patient": _find(Level.STUDY, PatientID="PAT0000001"),
    "c-find studies by uid": _find(Level.STUDY, StudyInstanceUID=STUDY),
    "c-find series": _find(Level.SERIES, StudyInstanceUID=STUDY),
    "c-find images": _find(Level.IMAGE, StudyInstanceUID=STUDY, SeriesInstanceUID=SERIES),
    # Web pages
    "web home": _get("/"),
    "web projects": _get("/projects"),
    "web project": _get(f"/projects/{PROJECT}"),
    "web subject": _get(f"/projects/{PROJECT}/subjects/{SUBJECT}"),
    "web session": _get(f"/projects/{PROJECT}/sessions/{SESSION}"),
    "web prearchive": _get("/prearchive"),
    "web audit": _get("/audit", ADMIN),
}


# Paths that still read a big table whole, and why; each fails the test the day it is
# fixed (xfail_strict), to be taken off this list.
KNOWN = {
    "v1 audit": "the total of an unfiltered audit listing counts every event",
    "web audit": "the total of an unfiltered audit listing counts every event",
    "xnat site subjects": "XNAT listings are not paged: every readable subject, sorted",
    "xnat site experiments": "XNAT listings are not paged: every readable session, sorted",
    "xnat search sessions of a project": "XNAT searches are not paged: every match, sorted",
    "xnat search sessions by label": "XNAT searches are not paged: every match, sorted",
    "qido site instances": (
        "instances of no study or series are grouped by UID over the whole table: walking "
        "them in order needs an index on dicom_instance that every stored instance pays for"
    ),
}


@pytest.mark.parametrize(
    "path",
    [pytest.param(p, marks=pytest.mark.xfail(reason=KNOWN[p])) if p in KNOWN else p for p in PATHS],
)
def test_plan_reads_no_big_table_whole(catalog: Catalog, path: str) -> None:
    engine = catalog.ctx.db.engine
    with plan_check.capture(engine) as captured:
        PATHS[path](catalog)
    assert captured.statements, f"{path} ran no SELECT"
    failures = []
    for statement, parameters in captured.statements:
        plan = plan_check.explain(engine, statement, parameters)
        found = plan_check.faults(plan, catalog.sizes)
        if found:
            failures.append(f"{'; '.join(found)}\n{statement}\n{plan_check.render(plan)}")
    assert not failures, f"{path}:\n\n" + "\n\n".join(failures)
