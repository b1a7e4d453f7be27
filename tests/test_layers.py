"""The layers of shared/DESIGN.md, measured from the code's imports (issue 15).

Every ``import`` under src/scandepot is read with :mod:`ast`, those inside functions and
``if TYPE_CHECKING:`` blocks included: an import deferred into a function is still a
dependency, only a hidden one. Top to bottom::

    interfaces   __main__, cli, app, api (v1, xnat, dicomweb), web, dimse, sftp, processes
    http         what api and web share
    services     ingest, prearchive, archive, access, export, pipelines, ...
    context      the bundle every service is handed (settings, catalog, file store, events)
    libraries    catalog (tables, paging, labels, counters), storage, dicom
    foundation   db, settings, events, errors, the package itself (its version)

A module imports its own package, or a package of a lower layer. Services import each
other only along :data:`SERVICE_DEPENDENCIES`, a one-way graph; interfaces only to wire
the process together. No packages and no modules import each other in a circle, and no
module is over 500 lines. The DICOM network side (dimse/: the receiver and query/retrieve)
is an interface like the HTTP API.
No function is over 60 lines, from its ``def`` to its last line (migrations aside: they
are written once and never called by the code).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGE = SRC / "scandepot"

LAYERS: tuple[tuple[str, frozenset[str]], ...] = (
    (
        "interfaces",
        frozenset({"__main__", "cli", "app", "api", "web", "dimse", "sftp", "processes"}),
    ),
    ("http", frozenset({"http"})),
    (
        "services",
        frozenset(
            {
                "ingest",
                "prearchive",
                "archive",
                "access",
                "export",
                "pipelines",
                "transfers",
                "deid",
                "push",
                "clinical",
                "datasets",
                "datalad",
                "notify",
                "retention",
                "query",
                "retrieve",
                "dicomnodes",
                "search",
            }
        ),
    ),
    ("context", frozenset({"context"})),
    # Alembic loads db/migrations by path (db/migrate.py names the folder, never imports
    # it); its environment compares the database with the catalog's tables, so it stands
    # beside the catalog rather than inside db/.
    ("libraries", frozenset({"catalog", "storage", "dicom", "db.migrations"})),
    ("foundation", frozenset({"db", "settings", "events", "errors", "scandepot"})),
)

# Who may use whom among the services: always downwards in this order, never back.
#   ingest -> prearchive -> archive -> access
# ingest stages what arrives and archives what it built (upload); prearchive builds and
# archives staged sessions into archive/; every service loads through archive's loaders
# and access's one permission check. export and pipelines read the archive.
SERVICE_DEPENDENCIES: dict[str, frozenset[str]] = {
    "ingest": frozenset({"prearchive", "archive", "access", "deid"}),
    "prearchive": frozenset({"archive", "access", "deid"}),
    "archive": frozenset({"access"}),
    "export": frozenset({"archive", "access", "deid"}),
    "pipelines": frozenset({"archive", "access"}),
    "query": frozenset({"archive", "access"}),
    # retrieve sends stored files as downloads do (export.archives opens and checks them).
    "retrieve": frozenset({"query", "archive", "access", "export"}),
    "dicomnodes": frozenset({"query", "access"}),
    # search lists the archive as XNAT's search does, in one query under the one check.
    "search": frozenset({"access"}),
    # notify follows the event journal and tells people of the archive's sessions.
    "notify": frozenset({"archive", "access"}),
    # transfers copy the archive's sessions through its loaders, as jobs in the one queue,
    # and read files as downloads do.
    "transfers": frozenset({"archive", "access", "pipelines", "export", "deid"}),
    # deid runs scripts on datasets and files; projects keep their scripts and keys, read
    # through archive's loaders under the one check. prearchive (archive time), export
    # and transfers (on the way out) use it.
    "deid": frozenset({"archive", "access"}),
    # push sends a project's sessions out through a script, as jobs in the one queue; it
    # reads files as downloads do and carries the subjects' clinical records along.
    "push": frozenset({"archive", "access", "pipelines", "export", "deid", "clinical"}),
    # clinical keeps each project's variables and records, read through archive's loaders
    # under the one check, and de-identifies them by the project's pseudonyms (deid).
    "clinical": frozenset({"archive", "access", "deid"}),
    # datasets freeze sessions of several projects into released versions, validate them
    # (deid's verification, clinical variables) as jobs, and hand them out as downloads do.
    "datasets": frozenset({"archive", "access", "pipelines", "export", "deid", "clinical"}),
    # datalad serves sessions as visit tarballs (export's tar code) with DataLad datasets
    # made beside them by a pipeline.
    "datalad": frozenset({"archive", "access", "pipelines", "export"}),
    # retention deletes what waits in staging areas (the prearchive, unmatched drops,
    # temporary upload and download files, pipelines' scratch), warning people first.
    "retention": frozenset(
        {"prearchive", "ingest", "export", "pipelines", "archive", "access", "notify"}
    ),
    "access": frozenset(),
}

# Interfaces do not use each other, except to wire the process together.
INTERFACE_DEPENDENCIES: dict[str, frozenset[str]] = {
    "__main__": frozenset({"cli"}),
    "cli": frozenset({"app", "processes"}),  # `scandepot serve` runs HTTP, DICOM, SFTP
    "app": frozenset({"api", "web", "processes"}),  # the one ASGI app mounts both
    # What each kind of process runs: the receiver, the SFTP server, and the rest.
    "processes": frozenset({"dimse", "sftp"}),
}

# Crossings between interfaces that are known and may not grow; delete an entry once the
# crossing is gone (a test says when). None today: web/ and the CLI share http/.
KNOWN_INTERFACE_CROSSINGS: frozenset[tuple[str, str]] = frozenset()

# Module cycles that are known and may not grow; delete an entry once the cycle is gone (a
# test says when). None today.
KNOWN_MODULE_CYCLES: frozenset[frozenset[str]] = frozenset()

MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60


@dataclass(frozen=True, slots=True)
class Import:
    path: Path  # the importing file
    line: int
    source: str  # the importing module, dotted
    target: str  # the imported module, dotted

    def __str__(self) -> str:
        where = self.path.relative_to(SRC.parent)
        return f"{where}:{self.line}: {self.source} imports {self.target}"


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(dotted: str) -> bool:
    base = SRC.joinpath(*dotted.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _resolve(path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    package = package[: len(package) - node.level + 1]
    return ".".join([*package, *([node.module] if node.module else [])])


def imports_of(path: Path) -> Iterator[Import]:
    source = module_name(path)
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(path, node)
            # `from scandepot.archive import projects` imports the module projects.
            targets = [
                f"{base}.{a.name}" if is_module(f"{base}.{a.name}") else base for a in node.names
            ]
        else:
            continue
        for target in targets:
            if target == "scandepot" or target.startswith("scandepot."):
                yield Import(path, node.lineno, source, target)


@cache
def all_imports() -> tuple[Import, ...]:
    return tuple(i for path in modules() for i in imports_of(path))


def unit(dotted: str) -> str:
    """The package (or top-level module) a module belongs to, as LAYERS names them."""
    parts = dotted.split(".")[1:]
    if not parts:
        return "scandepot"
    if parts[:2] == ["db", "migrations"]:
        return "db.migrations"
    return parts[0]


def layer(name: str) -> int:
    for rank, (_, members) in enumerate(LAYERS):
        if name in members:
            return rank
    raise AssertionError(f"scandepot.{name} is in no layer: add it to LAYERS in {__file__}")


def layer_name(name: str) -> str:
    return LAYERS[layer(name)][0]


def crossings() -> Iterator[tuple[Import, str, str]]:
    for imp in all_imports():
        a, b = unit(imp.source), unit(imp.target)
        if a != b:
            yield imp, a, b


def test_every_package_has_a_layer() -> None:
    names = {unit(module_name(path)) for path in modules()}
    unplaced = sorted(n for n in names if not any(n in m for _, m in LAYERS))
    assert not unplaced, f"in no layer (add them to LAYERS): {unplaced}"


def test_no_import_goes_up_a_layer() -> None:
    bad = [
        f"{imp}: {a} ({layer_name(a)}) may not import {b} ({layer_name(b)}), a layer above"
        for imp, a, b in crossings()
        if layer(b) < layer(a)
    ]
    assert not bad, "imports against the layers:\n" + "\n".join(bad)


def test_services_use_each_other_one_way() -> None:
    services = LAYERS[layer("archive")][1]
    bad = [
        f"{imp}: {a} -> {b} is not in SERVICE_DEPENDENCIES"
        for imp, a, b in crossings()
        if a in services and b in services and b not in SERVICE_DEPENDENCIES.get(a, frozenset())
    ]
    assert not bad, "imports between services outside the one-way list:\n" + "\n".join(bad)


def test_interfaces_do_not_use_each_other() -> None:
    interfaces = LAYERS[0][1]
    bad = [
        f"{imp}: interface {a} imports interface {b}"
        for imp, a, b in crossings()
        if a in interfaces
        and b in interfaces
        and b not in INTERFACE_DEPENDENCIES.get(a, frozenset())
        and (a, b) not in KNOWN_INTERFACE_CROSSINGS
    ]
    assert not bad, "imports between interfaces:\n" + "\n".join(bad)


def test_known_interface_crossings_still_exist() -> None:
    seen = {(a, b) for _, a, b in crossings()}
    gone = sorted(KNOWN_INTERFACE_CROSSINGS - seen)
    assert not gone, f"no longer crossed, delete from KNOWN_INTERFACE_CROSSINGS: {gone}"


@pytest.mark.parametrize(
    "graph", [SERVICE_DEPENDENCIES, INTERFACE_DEPENDENCIES], ids=["services", "interfaces"]
)
def test_allowed_dependencies_have_no_cycle(graph: dict[str, frozenset[str]]) -> None:
    assert _cycle(graph) is None, f"the allowed dependencies go round: {_cycle(graph)}"


def test_no_cycle_between_packages() -> None:
    graph: dict[str, set[str]] = {}
    first: dict[tuple[str, str], Import] = {}
    for imp, a, b in crossings():
        graph.setdefault(a, set()).add(b)
        first.setdefault((a, b), imp)
    cycle = _cycle({k: frozenset(v) for k, v in graph.items()})
    if cycle is not None:
        steps = "\n".join(str(first[a, b]) for a, b in zip(cycle, cycle[1:], strict=False))
        pytest.fail(f"packages import each other in a circle, {' -> '.join(cycle)}:\n{steps}")


def module_cycles() -> list[list[str]]:
    """Every cycle between modules, each as a path that ends where it starts."""
    graph: dict[str, set[str]] = {}
    for imp in all_imports():
        if imp.source != imp.target:
            graph.setdefault(imp.source, set()).add(imp.target)
    cycles: list[list[str]] = []
    while (cycle := _cycle({k: frozenset(v) for k, v in graph.items()})) is not None:
        cycles.append(cycle)
        graph[cycle[-2]].discard(cycle[-1])  # break it, look for the next
    return cycles


def test_no_cycle_between_modules() -> None:
    found = [c for c in module_cycles() if frozenset(c) not in KNOWN_MODULE_CYCLES]
    assert not found, "modules import each other in a circle:\n" + "\n".join(
        " -> ".join(c) for c in found
    )


def test_known_module_cycles_still_exist() -> None:
    gone = KNOWN_MODULE_CYCLES - {frozenset(c) for c in module_cycles()}
    assert not gone, f"no longer a cycle, delete from KNOWN_MODULE_CYCLES: {sorted(gone)}"


def _cycle(graph: dict[str, frozenset[str]]) -> list[str] | None:
    """A cycle of ``graph`` as a path that ends where it starts, or None."""
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return path[path.index(node) :] + [node]
        if node in done:
            return None
        for nxt in sorted(graph.get(node, ())):
            found = visit(nxt, [*path, node])
            if found is not None:
                return found
        done.add(node)
        return None

    for start in sorted(graph):
        found = visit(start, [])
        if found is not None:
            return found
    return None


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines())


def test_no_module_over_500_lines() -> None:
    bad = []
    for path in modules():
        if _lines(path) > MAX_MODULE_LINES:
            name = path.relative_to(SRC).as_posix()
            bad.append(f"src/{name}: {_lines(path)} lines (at most {MAX_MODULE_LINES})")
    assert not bad, "modules to split by idea:\n" + "\n".join(bad)


def test_no_function_over_60_lines() -> None:
    bad = []
    for path in modules():
        if "migrations" in path.relative_to(PACKAGE).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    where = f"src/{path.relative_to(SRC).as_posix()}:{node.lineno}"
                    bad.append(f"{where} {node.name}: {length} lines")
    assert not bad, "functions to split into named steps:\n" + "\n".join(bad)
