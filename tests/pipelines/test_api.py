"""The pipeline routes: settings, launch, job records and logs, errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from scandepot.context import Context
from tests.helpers import ADMIN, API
from tests.pipelines.conftest import ArchiveFn, run_queued

pytestmark = pytest.mark.interop  # the jobs run here convert with the dcm2niix binary

B = f"{API}/projects/PIPE"


def test_configure_launch_and_read_a_job(
    ctx: Context,
    client: TestClient,
    users: object,
    archive: ArchiveFn,
    synthetic: dict[str, list[Path]],
) -> None:
    archive({"1": synthetic["t1"]})
    r = client.get(f"{API}/pipelines")
    assert [p["name"] for p in r.json()] == ["dcm2niix", "qa", "snapshots", "datalad"]
    assert r.json()[0]["parameters"]["properties"]["timeout_s"]["maximum"] == 86400

    r = client.post(f"{B}/sessions/E1/jobs", json={"pipeline": "dcm2niix"}, auth=ADMIN)
    assert r.status_code == 409 and r.json()["error"]["field"] == "pipeline"
    r = client.patch(
        f"{B}/pipelines/dcm2niix",
        json={"enabled": True, "parameters": {"timeout_s": 600}},
        auth=ADMIN,
    )
    assert r.status_code == 200, r.text
    assert r.json()["enabled"] and r.json()["parameters"]["timeout_s"] == 600
    r = client.patch(f"{B}/pipelines/qa", json={"parameters": {"outlier_q": 2}}, auth=ADMIN)
    assert r.status_code == 422 and r.json()["error"]["field"] == "parameters.outlier_q"
    r = client.get(f"{B}/pipelines/nope", auth=ADMIN)
    assert r.status_code == 404 and r.json()["error"]["field"] == "pipeline"

    r = client.post(
        f"{B}/sessions/E1/scans/1/jobs",
        json={"pipeline": "dcm2niix", "parameters": {"merge_2d": "sometimes"}},
        auth=ADMIN,
    )
    assert r.status_code == 422 and r.json()["error"]["field"] == "parameters.merge_2d"
    r = client.post(f"{B}/sessions/E1/scans/1/jobs", json={"pipeline": "dcm2niix"}, auth=ADMIN)
    assert r.status_code == 202, r.text
    job = r.json()
    assert r.headers["location"] == job["url"] == f"{B}/jobs/{job['id']}"
    assert job["status"] == "queued" and job["target"] == "E1/1"
    assert job["parameters"]["timeout_s"] == 600 and job["launched_by"] == "admin"

    assert run_queued(ctx) != []
    r = client.get(job["url"], auth=ADMIN)
    assert r.json()["status"] == "succeeded"
    assert r.json()["versions"]["dcm2niix"].startswith("v1.0.")
    log = client.get(job["log_url"], auth=ADMIN)
    assert log.headers["content-type"].startswith("text/plain")
    assert "Convert 12 DICOM" in log.text

    r = client.get(f"{B}/jobs", params={"status": "succeeded", "session": "E1"}, auth=ADMIN)
    assert r.json()["total"] == 1
    r = client.post(f"{job['url']}/cancel", auth=ADMIN)
    assert r.status_code == 409
    r = client.post(f"{job['url']}/rerun", auth=ADMIN)
    assert r.status_code == 202 and r.json()["rerun_of"] == job["id"]
    r = client.post(f"{r.json()['url']}/cancel", auth=ADMIN)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    r = client.get(f"{B}/jobs/999999", auth=ADMIN)
    assert r.status_code == 404 and r.json()["error"]["field"] == "job"
