"""`scandepot pipeline list|configure|launch` and `scandepot job list|show|log|rerun|cancel`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scandepot.cli.main import app as cli
from scandepot.context import Context
from tests.pipelines.conftest import archive_session, run_queued

pytestmark = pytest.mark.interop  # the jobs run here convert with the dcm2niix binary

runner = CliRunner()


def run(ctx: Context, *args: str) -> tuple[int, str, str]:
    env = {"SCANDEPOT_DATA_DIR": str(ctx.settings.data_dir)}
    if ctx.settings.database_url:
        env["SCANDEPOT_DATABASE_URL"] = ctx.settings.database_url
    result = runner.invoke(cli, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_pipeline_and_job_commands(ctx: Context, synthetic: dict[str, list[Path]]) -> None:
    archive_session(ctx, {"1": synthetic["t1"]})
    code, out, _ = run(ctx, "pipeline", "list")
    assert code == 0 and out.splitlines()[0].startswith("dcm2niix\tDICOM to NIfTI")

    code, _, err = run(ctx, "pipeline", "launch", "PIPE", "E1", "dcm2niix")
    assert code == 1 and "'dcm2niix' is not enabled" in err
    code, out, _ = run(
        ctx, "pipeline", "configure", "PIPE", "dcm2niix", "--enable", "--param", "timeout_s=600"
    )
    assert code == 0 and "enabled=True auto_launch=False" in out and '"timeout_s": 600' in out
    code, _, err = run(ctx, "pipeline", "configure", "PIPE", "qa", "--param", "outlier_q=7")
    assert code == 1 and "parameters.outlier_q" in err
    code, out, _ = run(ctx, "pipeline", "list", "PIPE")
    assert "dcm2niix\tenabled=True\tauto_launch=False" in out

    code, out, _ = run(ctx, "pipeline", "launch", "PIPE", "E1", "dcm2niix", "--scan", "1")
    assert code == 0 and out.startswith("queued job ")
    job_id = out.split()[-1]
    run_queued(ctx)
    code, out, _ = run(ctx, "job", "list", "PIPE", "--status", "succeeded")
    assert out.startswith(f"{job_id}\tdcm2niix\tE1/1\tsucceeded\t")
    code, out, _ = run(ctx, "job", "show", "PIPE", job_id)
    assert json.loads(out)["versions"]["dcm2niix"].startswith("v1.0.")
    code, out, _ = run(ctx, "job", "log", "PIPE", job_id)
    assert "Convert 12 DICOM" in out

    code, out, _ = run(ctx, "job", "rerun", "PIPE", job_id)
    again = out.split()[-1]
    assert code == 0 and again != job_id
    code, out, _ = run(ctx, "job", "cancel", "PIPE", again)
    assert code == 0 and out == f"job {again}: cancelled\n"
    code, _, err = run(ctx, "job", "cancel", "PIPE", again)
    assert code == 1 and "already cancelled" in err
