"""Two projects to transfer between, with archived DICOM sessions (through the real
import path, so their instances are catalogued), resources at each level, and a way to
run the queued transfer jobs in this process."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from scandepot.catalog.pipelines import JobStatus
from scandepot.context import Context
from scandepot.dicom.synthetic import Series, Study
from scandepot.pipelines import queue, runner
from scandepot.transfers import task
from tests.helpers import API, write_study

IMPORT = "/data/services/import"


@dataclass
class Archive:
    client: TestClient
    actors: dict[str, Any]
    source: str
    dest: str
    tmp: Path

    def session(
        self,
        subject: str,
        session: str,
        series: tuple[int, ...] = (1, 2),
        *,
        project: str | None = None,
        study: Study | None = None,
    ) -> Study:
        """Archive a session of ``series`` (three instances each) through the import."""
        study = study or Study(PatientName=f"{subject}^Test", PatientID=subject)
        folder = self.tmp / f"{project or self.source}-{session}"
        write_study(folder, study, [Series(n, SeriesDescription=f"series {n}") for n in series])
        body = io.BytesIO()
        with zipfile.ZipFile(body, "w") as zf:
            for path in sorted(folder.iterdir()):
                zf.write(path, path.name)
        r = self.client.post(
            IMPORT,
            params={
                "dest": f"/archive/projects/{project or self.source}",
                "SUBJECT_ID": subject,
                "EXPT_LABEL": session,
            },
            files={"file": ("study.zip", body.getvalue(), "application/zip")},
            auth=self.actors["owner"],
        )
        assert r.status_code == 200, r.text
        return study

    def put(self, path: str, body: bytes, *, project: str | None = None) -> None:
        r = self.client.put(
            f"{API}/projects/{project or self.source}/{path}",
            content=body,
            auth=self.actors["owner"],
        )
        assert r.status_code == 201, r.text

    def get(self, path: str, *, project: str | None = None, who: str = "owner") -> Any:
        r = self.client.get(f"{API}/projects/{project or self.dest}/{path}", auth=self.actors[who])
        return r


def two_projects(
    ctx: Context,
    client: TestClient,
    actors: dict[str, Any],
    make_project: Callable[..., str],
    tmp_path: Path,
    **dest: Any,
) -> Archive:
    """A source and a destination (with ``dest``'s settings) with the same people."""
    ctx.settings.prearchive_quiet_s = 3600  # only the import itself builds
    return Archive(client, actors, make_project(), make_project(**dest), tmp_path)


@pytest.fixture
def archive(
    ctx: Context,
    client: TestClient,
    actors: dict[str, Any],
    make_project: Callable[..., str],
    tmp_path: Path,
) -> Archive:
    # The destination archives what arrives; tests of its prearchive say so.
    return two_projects(ctx, client, actors, make_project, tmp_path, upload_destination="archive")


def run_transfers(ctx: Context, *, limit: int = 20) -> list[JobStatus]:
    """Claim and run queued jobs here, transfers and nothing else, until none is left."""
    ended = []
    for _ in range(limit):
        taken = queue.claim_next(ctx, "test", 1)
        if not taken:
            return ended
        job_id, token = taken[0]
        ended.append(
            runner.execute(
                ctx, job_id, token, pipelines={"transfer": task.run}, dispatch=lambda _ids: None
            )
        )
    return ended
