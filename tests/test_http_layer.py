"""The HTTP layer sits between the interfaces and the services (issue 15): the pages and
the API share http/ and do not borrow from each other, the CLI builds no API answers, and
no service knows about HTTP. Read from the source's imports, those inside functions too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "scandepot"
SERVICES = ("ingest", "prearchive", "archive", "export", "pipelines", "access")
INTERFACES = ("api", "web", "cli", "http")

# (package, the packages it may not import)
RULES = [
    ("web", ("api",)),
    ("cli", ("api",)),
    ("http", ("api", "web", "cli")),
    *((service, INTERFACES) for service in SERVICES),
]


def imported(path: Path) -> set[str]:
    """Every scandepot module ``path`` imports, as a dotted name."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name.startswith("scandepot.")}


def crossings(package: str, forbidden: tuple[str, ...]) -> list[str]:
    bad = []
    for path in sorted((PACKAGE / package).rglob("*.py")):
        for name in sorted(imported(path)):
            if name.split(".")[1] in forbidden:
                bad.append(f"{path.relative_to(PACKAGE)}: {name}")
    return bad


@pytest.mark.parametrize(("package", "forbidden"), RULES, ids=[rule[0] for rule in RULES])
def test_no_import_across_the_http_layer(package: str, forbidden: tuple[str, ...]) -> None:
    assert (PACKAGE / package).is_dir()
    assert crossings(package, forbidden) == []


def test_the_check_sees_an_import_inside_a_function(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from scandepot.api.v1 import pipelines\n")
    assert "scandepot.api.v1.pipelines" in imported(source)


def test_no_service_writes_an_api_route() -> None:
    """A service returns labels and IDs; the interface that answers builds its URLs."""
    found = []
    for service in SERVICES:
        for path in sorted((PACKAGE / service).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    if "/api/v1" in node.value:
                        found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert found == []
