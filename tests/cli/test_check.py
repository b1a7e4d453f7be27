"""`scandepot check` finds every kind of damage and exits non-zero."""

from __future__ import annotations

import json
import os

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from scandepot.cli.main import app as cli
from scandepot.context import Context
from tests.helpers import ADMIN, create_tree, scan_files_url

runner = CliRunner()


def run_check(ctx: Context, *extra: str) -> tuple[int, dict[str, object]]:
    env = {"SCANDEPOT_DATA_DIR": str(ctx.settings.data_dir)}
    if ctx.settings.database_url:
        env["SCANDEPOT_DATABASE_URL"] = ctx.settings.database_url
    result = runner.invoke(cli, ["check", "--json", *extra], env=env)
    return result.exit_code, json.loads(result.stdout)


def test_check_finds_each_kind_of_damage(client: TestClient, ctx: Context, users: object) -> None:
    create_tree(client)
    for name in ("gone.dcm", "resized.dcm", "flipped.dcm", "fine.dcm"):
        client.put(f"{scan_files_url()}/{name}", content=b"0123456789", auth=ADMIN)
    code, report = run_check(ctx)
    assert code == 0 and report["ok"] is True and report["checked"] == 4

    files = ctx.store.archive / "P1/subjects/S1/sessions/E1/scans/1/resources/DICOM/files"
    (files / "gone.dcm").unlink()
    (files / "resized.dcm").write_bytes(b"012")
    (files / "flipped.dcm").write_bytes(b"0123456780")  # same size, other bytes
    (files / "stray.dcm").write_bytes(b"?")
    os.makedirs(ctx.store.archive / "P1/other")
    (ctx.store.archive / "P1/other/x").write_bytes(b"?")

    code, report = run_check(ctx)
    assert code == 1 and report["ok"] is False
    prefix = "P1/subjects/S1/sessions/E1/scans/1/resources/DICOM/files/"
    assert report["missing"] == [prefix + "gone.dcm"]
    assert report["uncatalogued"] == ["P1/other/x", prefix + "stray.dcm"]
    mismatched = report["mismatched"]
    assert isinstance(mismatched, list) and len(mismatched) == 2
    assert any("flipped.dcm: SHA-256" in m for m in mismatched)
    assert any("resized.dcm: size 3" in m for m in mismatched)

    # --quick compares sizes only: the flipped file passes, the rest is still found.
    code, quick = run_check(ctx, "--quick")
    assert code == 1
    assert not any("flipped" in m for m in quick["mismatched"])  # type: ignore[union-attr]


def test_check_text_output(ctx: Context) -> None:
    env = {"SCANDEPOT_DATA_DIR": str(ctx.settings.data_dir)}
    if ctx.settings.database_url:
        env["SCANDEPOT_DATABASE_URL"] = ctx.settings.database_url
    (ctx.store.archive / "orphan.bin").write_bytes(b"x")
    result = runner.invoke(cli, ["check"], env=env)
    assert result.exit_code == 1
    assert "not catalogued (on disk only): orphan.bin" in result.stdout
    assert "DAMAGED" in result.stdout


def test_check_refuses_a_missing_or_unmigrated_catalog(tmp_path: object) -> None:
    from pathlib import Path

    base = Path(str(tmp_path))
    result = runner.invoke(cli, ["check", "--data-dir", str(base / "nowhere")])
    assert result.exit_code == 2
    assert "no data folder" in result.stderr
    assert not (base / "nowhere").exists()
    (base / "empty").mkdir()
    result = runner.invoke(cli, ["check", "--data-dir", str(base / "empty")])
    assert result.exit_code == 2
    assert "scandepot migrate" in result.stderr


def test_settings_errors_are_reported_by_name(tmp_path: object) -> None:
    result = runner.invoke(cli, ["check"], env={"SCANDEPOT_CONFIG": "/nonexistent.toml"})
    assert result.exit_code == 2 and "not a file" in result.stderr
    result = runner.invoke(cli, ["check"], env={"SCANDEPOT_HTTP_PORT": "eighty"})
    assert result.exit_code == 2 and "SCANDEPOT_HTTP_PORT" in result.stderr
