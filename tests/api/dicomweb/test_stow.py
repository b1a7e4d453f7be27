"""STOW-RS over HTTP: dicomweb-client's store_instances against a real server, the
credentials of /api/v1 (Basic, Bearer, cookie with CSRF), the request limits, and the
refusals a sender sees (with their JSON or DICOM JSON bodies)."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable, Iterator

import httpx
import pydicom
import pytest
import requests
from dicomweb_client.api import DICOMwebClient
from fastapi.testclient import TestClient
from pydicom.dataset import Dataset
from sqlalchemy import func, select

from scandepot.access import tokens
from scandepot.access.tokens import TokenCreate
from scandepot.catalog.access import User
from scandepot.catalog.prearchive import Instance, StagedSession
from scandepot.context import Context
from scandepot.dicom.synthetic import Series, Study, mr_instance, to_bytes
from scandepot.ingest import stow_response as res
from tests.conftest import PASSWORD, LiveServer
from tests.ingest.test_stow import (
    BOUNDARY,
    CONTENT_TYPE,
    actor,
    big_instance,
    multipart,
    siemens_files,
)

DW = "/dicomweb"


def instances(count: int, study: Study | None = None) -> list[Dataset]:
    study = study or Study()
    series = Series()
    return [mr_instance(study, series, n, rows=16, columns=16) for n in range(1, count + 1)]


def client_for(live_server: LiveServer, root: str, login: str) -> DICOMwebClient:
    session = requests.Session()
    session.auth = (login, PASSWORD)
    return DICOMwebClient(url=f"{live_server.url}{root}", session=session)


def instance_count(ctx: Context) -> int:
    with ctx.db.read() as db:
        return int(db.scalar(select(func.count()).select_from(Instance)) or 0)


def sops(ctx: Context) -> list[str]:
    with ctx.db.read() as db:
        return sorted(db.scalars(select(Instance.SOPInstanceUID)))


@pytest.fixture
def project(make_project: Callable[..., str]) -> str:
    return make_project("private")


def test_dicomweb_client_stores_real_and_synthetic_instances(
    ctx: Context, live_server: LiveServer, project: str
) -> None:
    real = [pydicom.dcmread(p) for p in siemens_files()]
    synthetic = instances(3)
    dw = client_for(live_server, f"{DW}/projects/{project}", "member")
    answer = dw.store_instances(real + synthetic)
    stored = [item.ReferencedSOPInstanceUID for item in answer.ReferencedSOPSequence]
    assert stored == [ds.SOPInstanceUID for ds in real + synthetic]
    assert "FailedSOPSequence" not in answer
    assert sops(ctx) == sorted(stored)
    # Into one study, named in the path: the client sends /studies/{study}.
    study = Study()
    more = instances(2, study)
    answer = dw.store_instances(more, study_instance_uid=study.StudyInstanceUID)
    assert len(answer.ReferencedSOPSequence) == 2
    assert instance_count(ctx) == len(real) + 5


def test_dicomweb_client_sees_a_partial_store_and_a_refused_one(
    ctx: Context, live_server: LiveServer, project: str
) -> None:
    study = Study()
    dw = client_for(live_server, f"{DW}/projects/{project}", "member")
    mine, stranger = instances(2, study), instances(1)
    answer = dw.store_instances(mine + stranger, study_instance_uid=study.StudyInstanceUID)
    assert [i.ReferencedSOPInstanceUID for i in answer.ReferencedSOPSequence] == [
        ds.SOPInstanceUID for ds in mine
    ]
    [failed] = answer.FailedSOPSequence
    assert failed.ReferencedSOPInstanceUID == stranger[0].SOPInstanceUID
    assert failed.FailureReason == res.STUDY_MISMATCH
    with pytest.raises(requests.HTTPError) as refused:
        dw.store_instances(stranger, study_instance_uid=study.StudyInstanceUID)
    assert refused.value.response.status_code == 409
    assert refused.value.response.headers["content-type"] == "application/dicom+json"
    assert sops(ctx) == sorted(ds.SOPInstanceUID for ds in mine)


def test_dicomweb_client_at_the_site_root_stores_where_instances_route(
    ctx: Context, live_server: LiveServer, project: str
) -> None:
    routed = instances(2, Study(StudyDescription=f"xnat://{project}/S1/E1"))
    answer = client_for(live_server, DW, "member").store_instances(routed)
    assert len(answer.ReferencedSOPSequence) == 2
    with ctx.db.read() as db:
        assert set(db.scalars(select(StagedSession.project_key))) == {project}
    with pytest.raises(requests.HTTPError) as refused:  # no role there: nothing stored
        client_for(live_server, DW, "outsider").store_instances(instances(1, Study()))
    assert refused.value.response.status_code == 409
    assert instance_count(ctx) == 2


def post(client: TestClient, url: str, body: bytes, **headers: str) -> httpx.Response:
    return client.post(url, content=body, headers={"content-type": CONTENT_TYPE, **headers})


def test_the_answer_is_dicom_json(client: TestClient, ctx: Context, project: str) -> None:
    ds = instances(1)[0]
    url = f"{DW}/projects/{project}/studies"
    r = post(client, url, multipart([to_bytes(ds)]), authorization=basic("member"))
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/dicom+json"
    answer = Dataset.from_json(r.json())
    [item] = answer.ReferencedSOPSequence
    assert item.ReferencedSOPInstanceUID == ds.SOPInstanceUID
    assert item.RetrieveURL == ""  # in the prearchive: not retrievable until archived


def basic(login: str) -> str:
    return httpx.BasicAuth(login, PASSWORD)._auth_header


@pytest.mark.parametrize(
    ("login", "status"), [(None, 401), ("outsider", 404), ("collaborator", 403)]
)
def test_callers_who_may_not_upload_are_refused_before_the_body(
    client: TestClient, ctx: Context, project: str, login: str | None, status: int
) -> None:
    headers = {"authorization": basic(login)} if login else {}
    r = post(
        client,
        f"{DW}/projects/{project}/studies",
        multipart([to_bytes(instances(1)[0])]),
        **headers,
    )
    assert r.status_code == status
    assert set(r.json()) == {"error"}
    assert instance_count(ctx) == 0


def test_bearer_tokens_and_cookies_with_csrf(
    client: TestClient, ctx: Context, project: str, users: dict[str, User]
) -> None:
    url = f"{DW}/projects/{project}/studies"
    token = tokens.create(ctx, actor(ctx, "member"), TokenCreate(name="stow")).token
    r = post(client, url, multipart([to_bytes(instances(1)[0])]), authorization=f"Bearer {token}")
    assert r.status_code == 200
    signed = client.post("/api/v1/auth/login", json={"login": "member", "password": PASSWORD})
    csrf = signed.json()["csrf_token"]
    r = post(client, url, multipart([to_bytes(instances(1)[0])]))
    assert r.status_code == 403 and "CSRF" in r.json()["error"]["message"]
    assert instance_count(ctx) == 1
    r = post(client, url, multipart([to_bytes(instances(1)[0])]), **{"x-csrf-token": csrf})
    assert r.status_code == 200
    assert instance_count(ctx) == 2


@pytest.mark.parametrize(
    ("content_type", "accept", "status", "words"),
    [
        ("application/dicom", None, 415, "multipart/related"),
        ("multipart/related; type=application/dicom+json; boundary=x", None, 415, "bulk data"),
        ("multipart/related; type=application/dicom", None, 400, "boundary"),
        (CONTENT_TYPE, "application/dicom+xml", 406, "application/dicom+json"),
    ],
)
def test_requests_that_cannot_be_met(
    client: TestClient,
    ctx: Context,
    project: str,
    content_type: str,
    accept: str | None,
    status: int,
    words: str,
) -> None:
    headers = {"authorization": basic("member"), "content-type": content_type}
    if accept:
        headers["accept"] = accept
    body = multipart([to_bytes(instances(1)[0])])
    r = client.post(f"{DW}/projects/{project}/studies", content=body, headers=headers)
    assert r.status_code == status
    assert words in r.json()["error"]["message"]
    assert instance_count(ctx) == 0


def test_a_bad_study_in_the_path_and_a_truncated_body_are_400(
    client: TestClient, ctx: Context, project: str
) -> None:
    auth = basic("member")
    body = multipart([to_bytes(instances(1)[0])])
    r = post(client, f"{DW}/projects/{project}/studies/1.2.3x", body, authorization=auth)
    assert r.status_code == 400 and "not a UID" in r.json()["error"]["message"]
    r = post(client, f"{DW}/projects/{project}/studies", body[:-200], authorization=auth)
    assert r.status_code == 400 and "truncated" in r.json()["error"]["message"]
    assert instance_count(ctx) == 0
    assert list(ctx.store.tmp.iterdir()) == []


@pytest.mark.in_process("changes the server's upload limit")
def test_stow_is_not_held_to_the_small_request_limit_but_to_the_upload_limit(
    client: TestClient, ctx: Context, live_server: LiveServer, project: str
) -> None:
    """A body past max_request_bytes (1 MiB) streams; one past max_upload_bytes is 413:
    at once when its Content-Length says so (nothing read, nothing stored), or when it
    gets there, sent chunked (the parts that arrived whole before are stored)."""
    series = Series()
    large = [mr_instance(Study(), series, n, rows=512, columns=512) for n in (1, 2, 3)]
    body = multipart([to_bytes(ds) for ds in large])
    assert len(body) > ctx.settings.max_request_bytes
    url = f"{DW}/projects/{project}/studies"
    r = post(client, url, body, authorization=basic("member"))
    assert r.status_code == 200, r.text
    assert instance_count(ctx) == 3
    ctx.settings = ctx.settings.model_copy(update={"max_upload_bytes": 3 * 1024 * 1024})
    small = instances(8)
    body = multipart([to_bytes(ds) for ds in small] + [bytes(4 * 1024 * 1024)])
    r = post(client, url, body, authorization=basic("member"))
    assert r.status_code == 413 and set(r.json()) == {"error"}
    assert instance_count(ctx) == 3

    def chunked() -> Iterator[bytes]:
        for start in range(0, len(body), 65536):
            yield body[start : start + 65536]

    with httpx.Client(base_url=live_server.url, timeout=60) as http:
        r = http.post(
            url,
            content=chunked(),
            headers={"content-type": CONTENT_TYPE},
            auth=("member", PASSWORD),
        )
    assert r.status_code == 413
    assert set(sops(ctx)) >= {ds.SOPInstanceUID for ds in small}
    assert instance_count(ctx) == 3 + len(small)
    assert list(ctx.store.tmp.iterdir()) == []


def test_a_large_part_streams_over_the_wire_in_bounded_memory(
    ctx: Context, live_server: LiveServer, project: str
) -> None:
    """200 MB in one part, sent chunked by a real HTTP client to a real server: the
    server's memory (same process, traced) stays within a few buffers."""
    sent = [0]

    def body() -> Iterator[bytes]:
        yield f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode()
        for piece in big_instance(200 * 1024 * 1024):
            sent[0] += len(piece)
            yield piece
        yield f"\r\n--{BOUNDARY}--\r\n".encode()

    tracemalloc.start()
    try:
        with httpx.Client(base_url=live_server.url, timeout=120) as http:
            r = http.post(
                f"{DW}/projects/{project}/studies",
                content=body(),
                headers={"content-type": CONTENT_TYPE},
                auth=("member", PASSWORD),
            )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert r.status_code == 200, r.text
    assert peak < 24 * 1024 * 1024, f"peak {peak} bytes for {sent[0]} sent"
    with ctx.db.read() as db:
        [size] = db.scalars(select(Instance.size)).all()
    assert size == sent[0] > 200_000_000
