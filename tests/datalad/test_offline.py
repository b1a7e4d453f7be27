"""``scandepot datalad deposit``: a visit in the INM-ICF store layout in a folder, cloned
and got from there (``file://``) by DataLad, byte-identical to the catalog's checksums."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scandepot.cli.main import app
from scandepot.context import Context
from tests.datalad.conftest import Archived
from tests.datalad.peers import datalad, datalad_env
from tests.datalad.test_visits import catalogued

pytestmark = [pytest.mark.interop, pytest.mark.parametrize("backend", ["sqlite"], indirect=True)]


def test_deposit_into_a_folder_then_clone_and_get_from_it(
    ctx: Context, visit: Archived, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    store.mkdir()
    options = ["--data-dir", str(ctx.settings.data_dir)]
    options += ["--database-url", str(ctx.settings.database_url)]
    ids = ["--id", visit.project, visit.visit]
    done = CliRunner().invoke(
        app, ["datalad", "deposit", "--store-dir", str(store), *ids, *options]
    )
    assert done.exit_code == 0, done.output
    folder = store / visit.project
    v = visit.visit
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [
            f"{v}_dicom.tar",
            f"{v}_metadata_tarball.json",
            f"{v}_metadata_dicoms.json",
            f"{v}_XDLRA--refs",
            f"{v}_XDLRA--repo-export",
        ]
    )
    described = json.loads((folder / f"{v}_metadata_tarball.json").read_text())
    tar = (folder / f"{v}_dicom.tar").read_bytes()
    assert (described["size"], described["md5"]) == (len(tar), hashlib.md5(tar).hexdigest())
    # The clone URL the command prints.
    url = done.output.split("datalad clone '", 1)[1].split("'", 1)[0]
    assert f"url=file://{folder.resolve()}/{v}_{{{{annex_key}}}}" in url
    env = datalad_env()
    datalad("clone", url, "visit", cwd=tmp_path, env=env)
    clone = tmp_path / "visit"
    datalad("get", ".", cwd=clone, env=env)
    got = {
        p.name: (p.stat().st_size, hashlib.md5(p.read_bytes()).hexdigest())
        for p in clone.rglob("*.dcm")
        if ".git" not in p.parts
    }
    assert got == catalogued(ctx, visit.visit)
