"""A lab's XNAT script, unchanged, against a real ``scandepot serve`` process: xnatpy
creates a subject, imports a study into the archive, adds clinical data and downloads the
session; pyxnat searches. Every result is checked against /api/v1."""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path

import httpx
import pytest

from scandepot.dicom.synthetic import Series, Study
from tests.cli.test_serve import Server, env  # noqa: F401  (the fixture)
from tests.helpers import API, write_study

pytestmark = pytest.mark.interop

PASSWORD = "xnat-script-pass"


def test_a_lab_script_runs_with_only_the_address_changed(
    tmp_path: Path,
    env: dict[str, str],  # noqa: F811
) -> None:
    import pyxnat
    import xnat

    server = Server(tmp_path, {**env, "SCANDEPOT_ADMIN_PASSWORD": PASSWORD})
    auth = ("admin", PASSWORD)
    try:
        r = httpx.post(f"{server.url}{API}/projects", json={"id": "PILOT"}, auth=auth)
        assert r.status_code == 201, r.text
        files = write_study(
            tmp_path / "study",
            Study(PatientID="SUBJ01"),
            [Series(SeriesNumber=1), Series(SeriesNumber=2, SeriesDescription="BOLD")],
            per_series=2,
        )
        study = tmp_path / "study.zip"
        with zipfile.ZipFile(study, "w") as archive:
            for path in files:
                archive.write(path, path.name)

        logger = logging.getLogger("xnatpy-serve-script")
        with xnat.connect(server.url, user="admin", password=PASSWORD, logger=logger) as s:
            project = s.projects["PILOT"]
            subject = s.classes.SubjectData(parent=project, label="SUBJ01")
            subject.demographics.gender = "female"
            experiment = s.services.import_(
                study,
                project="PILOT",
                subject="SUBJ01",
                experiment="SUBJ01_MR1",
                destination="/archive",
            )
            assert experiment.label == "SUBJ01_MR1"
            assert sorted(experiment.scans.keys()) == ["1", "2"]
            clinical = s.classes.ResourceCatalog(parent=subject, label="CLINICAL")
            clinical.upload_data("age,sex\n42,F\n", "clinical.csv")
            experiment.download_dir(tmp_path / "out", verbose=False)

        native = httpx.get(
            f"{server.url}{API}/projects/PILOT/sessions/SUBJ01_MR1/scans", auth=auth
        ).json()
        assert sorted(s["id"] for s in native["items"]) == ["1", "2"]
        # Every instance sent came back, byte for byte (the archive names them by UID).
        got = sorted(p.read_bytes() for p in (tmp_path / "out").rglob("*.dcm"))
        assert got == sorted(p.read_bytes() for p in files)
        r = httpx.get(
            f"{server.url}{API}/projects/PILOT/subjects/SUBJ01/resources/CLINICAL/files/clinical.csv",
            auth=auth,
        )
        assert r.text == "age,sex\n42,F\n"

        interface = pyxnat.Interface(server=server.url, user="admin", password=PASSWORD)
        table = interface.select(
            "xnat:mrSessionData",
            ["xnat:mrSessionData/SESSION_ID", "xnat:mrSessionData/LABEL"],
        ).where([("xnat:mrSessionData/PROJECT", "=", "PILOT"), "AND"])
        assert [row["label"] for row in table] == ["SUBJ01_MR1"]
        interface.disconnect()
    finally:
        server.stop()
