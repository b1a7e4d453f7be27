"""The documentation names every setting, command and REST route, or a test fails."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer.main

from scandepot.app import create_app
from scandepot.cli.main import app as cli
from scandepot.settings import Settings

DOCS = Path(__file__).resolve().parent.parent / "docs"


@pytest.fixture(scope="module")
def docs_text() -> str:
    return "\n".join(p.read_text() for p in sorted(DOCS.glob("*.md")))


def test_every_setting_is_documented(docs_text: str) -> None:
    missing = [
        f"SCANDEPOT_{name.upper()}"
        for name in Settings.model_fields
        if f"`SCANDEPOT_{name.upper()}`" not in docs_text
    ]
    assert missing == []


def _commands(group: Any, prefix: str) -> list[str]:
    """Every command below a (Typer or Click) group, as typed on the command line."""
    found = []
    for name, command in group.commands.items():
        found.append(f"{prefix} {name}")
        if hasattr(command, "commands"):
            found += _commands(command, f"{prefix} {name}")
    return found


def test_every_command_is_documented(docs_text: str) -> None:
    group = typer.main.get_command(cli)
    commands = _commands(group, "scandepot")
    assert "scandepot user add" in commands
    assert [c for c in commands if c not in docs_text] == []


def test_every_route_is_documented(docs_text: str, tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path))
    documented = set(re.findall(r"`([A-Z]+) (/[^`\s]*)`", docs_text))
    routes = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    }
    assert routes, "the app declares no routes"
    assert sorted(routes - documented) == []
