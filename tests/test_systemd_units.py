"""The systemd units in deploy/systemd start commands the ``scandepot`` program has, with
options it accepts, and their environment file names only settings that exist, with
values they accept."""

from __future__ import annotations

import configparser
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scandepot.cli.main import app
from scandepot.settings import Settings

UNITS = Path(__file__).resolve().parent.parent / "deploy" / "systemd"
PROGRAM = "/opt/scandepot/bin/scandepot"
ENV_FILE = "/etc/scandepot/scandepot.env"
# What each kind of process is started as: an instance name for the templates.
INSTANCES = {"scandepot-web@.service": "8081"}
SERVICES = sorted(p.name for p in UNITS.glob("*.service"))


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((UNITS / name).read_text())
    return parser


def test_every_kind_of_process_has_a_unit() -> None:
    assert SERVICES == [
        "scandepot-dicom@.service",
        "scandepot-migrate.service",
        "scandepot-sftp.service",
        "scandepot-web@.service",
        "scandepot-worker@.service",
    ]


@pytest.mark.parametrize("name", SERVICES)
def test_each_unit_runs_a_scandepot_command_it_has(name: str) -> None:
    parsed = unit(name)
    service = parsed["Service"]
    assert service["EnvironmentFile"] == ENV_FILE
    assert parsed["Install"]["WantedBy"] == "scandepot.target"
    if name != "scandepot-migrate.service":  # the rest start once the catalog is migrated
        assert "scandepot-migrate.service" in parsed["Unit"]["After"].split()
        assert parsed["Unit"]["Requires"] == "scandepot-migrate.service"
    program, *args = shlex.split(service["ExecStart"].replace("%i", INSTANCES.get(name, "1")))
    assert program == PROGRAM and args
    # --help after the options: an unknown command or option is refused before it.
    result = CliRunner().invoke(app, [*args, "--help"], prog_name="scandepot")
    assert result.exit_code == 0, result.output
    assert f"Usage: scandepot {args[0]} [OPTIONS]" in result.output
    refused = CliRunner().invoke(app, [*args, "--no-such-option", "--help"])
    assert refused.exit_code == 2


def environment() -> dict[str, str]:
    """The settings the environment file gives, and those it shows commented out."""
    found = {}
    for line in (UNITS / "scandepot.env").read_text().splitlines():
        line = line.removeprefix("#")
        if line.startswith("SCANDEPOT_"):
            key, sep, value = line.partition("=")
            assert sep, line
            found[key] = value
    return found


def test_the_environment_file_names_settings_that_exist(monkeypatch: pytest.MonkeyPatch) -> None:
    given = environment()
    unknown = [
        k for k in given if k.removeprefix("SCANDEPOT_").lower() not in Settings.model_fields
    ]
    assert unknown == []
    for key, value in given.items():
        if value:  # those left empty are shown commented out
            monkeypatch.setenv(key, value)
    settings = Settings()  # every value valid
    assert settings.pipeline_executor == "celery"
    assert settings.database_url and settings.database_url.startswith("postgresql")
    assert not settings.sftp_enabled  # web servers leave SFTP to scandepot-sftp
    assert settings.dicom_reuse_port  # scandepot-dicom@ instances share the port
