"""The documentation names every setting, command and REST route, or a test fails."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer.main

from scandepot.access.audit import AuditAction
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


SRC = Path(__file__).resolve().parent.parent / "src" / "scandepot"
# A documented default: `value` (default), or (default 64) / default `prearchive` / default: 4.
_DEFAULT_AFTER = re.compile(r"`([^`]+)` \(default\)")
_DEFAULT_BEFORE = re.compile(r"\bdefault:? (?:`([^`]+)`|(\d+)\b)", re.IGNORECASE)


def _option_defaults(group: Any) -> dict[str, set[str]]:
    """Each option of every command, with the defaults it has (a name may recur)."""
    found: dict[str, set[str]] = {}
    for command in group.commands.values():
        if hasattr(command, "commands"):
            for name, values in _option_defaults(command).items():
                found.setdefault(name, set()).update(values)
            continue
        for param in command.params:
            default = getattr(param.default, "value", param.default)
            for name in param.opts:
                if name.startswith("--") and default is not None:
                    found.setdefault(name, set()).add(str(default))
    return found


def test_documented_option_defaults_are_the_real_ones(docs_text: str) -> None:
    """A row of an options table that gives a default (and no setting that supplies it)
    gives the one the command has."""
    options = _option_defaults(typer.main.get_command(cli))
    checked, wrong = 0, []
    for row in re.findall(r"^\| `(--[a-z-]+)[^|]*\|(.*)$", docs_text, re.MULTILINE):
        name, text = row
        if "SCANDEPOT_" in text or name not in options:
            continue
        match = _DEFAULT_AFTER.search(text) or _DEFAULT_BEFORE.search(text)
        if match is None:
            continue
        documented = next(g for g in match.groups() if g)
        checked += 1
        if documented not in options[name]:
            wrong.append((name, documented, sorted(options[name])))
    assert checked >= 4, "the docs give no option defaults this test can read"
    assert wrong == []


def _source_text() -> str:
    """The package's source with implicitly concatenated string literals joined."""
    text = "\n".join(p.read_text() for p in sorted(SRC.rglob("*.py")))
    return re.sub(r"\"\s*\n\s*[rbf]*\"", "", text)


def test_documented_problem_messages_are_the_real_ones(docs_text: str) -> None:
    """Every message the docs quote as 'the problem "..."' is one the code records: in the
    quote, 'X' and N stand for the values the code fills in."""
    quoted = re.findall(r'problem "([^"]+)"', re.sub(r"\s+", " ", docs_text))
    assert quoted, "the docs quote no problem messages"
    source = _source_text()
    missing = []
    for message in set(quoted):
        parts = re.split(r"('X'|\bN\b)", message)
        pattern = "".join(
            "'\\{[^{}]+\\}'"
            if part == "'X'"
            else "\\{[^{}]+\\}"
            if part == "N"
            else re.escape(part)
            for part in parts
        )
        if not re.search(pattern, source):
            missing.append(message)
    assert missing == []


def test_every_audit_action_is_documented_and_no_other() -> None:
    """docs/access.md's table of audit actions lists exactly the actions recorded."""
    text = (DOCS / "access.md").read_text()
    table = text[text.index("| Action | Recorded when |") :].split("\n\n")[0]
    documented = set(
        re.findall(r"^\| `([a-z_]+\.[a-z_]+)`(?:, `([a-z_]+\.[a-z_]+)`)?", table, re.M)
    )
    names = {name for pair in documented for name in pair if name}
    assert names == {action.value for action in AuditAction}
