"""Fixtures a reader understands at once.

``settings`` is parametrized over the two catalogs a site can run on: the embedded SQLite
and a real PostgreSQL server (127.0.0.1:5432, trust auth). A test that uses ``settings``,
``ctx``, ``client`` or ``actors`` runs on both; when PostgreSQL cannot be reached its
variant fails, it is never skipped.

``receiver`` is the DICOM receiver on a loopback port, and ``storescu`` sends files to it
with dcmtk's storescu: a test that uses ``storescu`` is an interop test (see
docs/architecture.md, "Tests").
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from scandepot.access import roles
from scandepot.access.actors import SYSTEM
from scandepot.access.passwords import hash_password
from scandepot.app import attach, create_app
from scandepot.archive import projects
from scandepot.archive.projects import ProjectCreate
from scandepot.catalog.access import Role, User
from scandepot.catalog.schema import metadata
from scandepot.context import Context
from scandepot.db.engine import Database
from scandepot.db.migrate import upgrade
from scandepot.dimse import DimseSettings, Receiver
from scandepot.http import server
from scandepot.settings import Settings
from scandepot.storage.store import FileStore
from tests.helpers import after_archive
from tests.orthanc_peer import StartOrthanc, orthanc_starter
from tests.pg import fresh_database
from tests.served_deployment import (  # noqa: F401
    ServedDeployment,
    Through,
    keep_only_through_deployment,
    pytest_addoption,
    served_deployment,
    through_deployment,
)

PASSWORD = "correct-horse-battery"
ROLES = ("owner", "member", "collaborator")
ACTOR_NAMES = ("anonymous", "outsider", "collaborator", "member", "owner", "admin")


@pytest.fixture(scope="session")
def password_hash() -> str:
    return hash_password(PASSWORD)


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One migrated SQLite catalog for the run, emptied before each test."""
    path = tmp_path_factory.mktemp("catalog") / "scandepot.db"
    url = f"sqlite:///{path}"
    db = Database(url)
    upgrade(db)
    db.dispose()
    return url


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test run, migrated once, dropped at the end."""
    with fresh_database(durable=False) as url:
        db = Database(url)
        upgrade(db)
        db.dispose()
        yield url
        for engine in list(_ENGINES.values()):
            engine.dispose()


# One Database (engine, pool and compiled-statement cache) per catalog for the whole run:
# building engines per test costs more than the tests themselves.
_ENGINES: dict[str, Database] = {}


def shared_database(url: str) -> Database:
    if url not in _ENGINES:
        _ENGINES[url] = Database(url)
    return _ENGINES[url]


SEED_COUNTERS = (
    "INSERT INTO counter (name, value) "
    "VALUES ('subject', 0), ('session', 0), ('prearchive', 0), ('dataset', 0)"
)


def empty_catalog(db: Database) -> None:
    """Remove every row, then seed what the migrations seed.

    PostgreSQL: every DELETE and the sequences' reset in one round trip (a TRUNCATE of
    every table costs ten times as much, per test; a round trip per table, three times).
    SQLite: DELETE only from the tables that hold a row, found in one query."""
    tables = [table.name for table in reversed(metadata.sorted_tables)]
    with db.write_connection() as conn:
        if db.is_sqlite:
            probe = " UNION ALL ".join(
                f"SELECT '{name}' WHERE EXISTS (SELECT 1 FROM \"{name}\")" for name in tables
            )
            holding = set(conn.exec_driver_sql(probe).scalars())
            for name in tables:
                if name in holding:
                    conn.exec_driver_sql(f'DELETE FROM "{name}"')
            conn.exec_driver_sql(SEED_COUNTERS)
            return
        statements = [f'DELETE FROM "{name}"' for name in tables]
        statements += [
            "SELECT setval(oid::regclass, 1, false) FROM pg_class WHERE relkind = 'S'",
            SEED_COUNTERS,
        ]
        conn.exec_driver_sql("; ".join(statements))


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    if through_deployment(request):
        served: ServedDeployment = request.getfixturevalue("served_deployment")
        empty_catalog(shared_database(served.deployment.database_url))
        return served.settings_for_test(PASSWORD)
    url = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "pg_url")
    empty_catalog(shared_database(url))
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    return Settings(data_dir=data_dir, database_url=url, admin_password=PASSWORD)


@pytest.fixture
def ctx(settings: Settings) -> Context:
    assert settings.database_url is not None
    context = Context(
        settings, shared_database(settings.database_url), FileStore(settings.data_dir)
    )
    context.store.ensure()
    return context


_built: list[Any] = []  # the application of this test process, built on first use


@pytest.fixture
def app(ctx: Context) -> Iterator[Any]:
    """The application, pointed at this test's context: built once a process, since
    FastAPI works out every route's dependencies on an application's first request."""
    if not _built:
        _built.append(create_app(ctx=ctx))
    else:
        attach(_built[0], ctx)
    yield _built[0]
    # Pictures still being drawn would read this test's catalog while the next one empties it.
    after_archive(_built[0])
    _built[0].dependency_overrides.clear()


@pytest.fixture
def client(app: Any) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def users(ctx: Context, password_hash: str) -> dict[str, User]:
    """One account per actor kind, all with the password ``PASSWORD``."""
    made: dict[str, User] = {}
    with ctx.db.write() as db:
        for name in ACTOR_NAMES[1:]:
            user = User(
                login=name,
                full_name=name.title(),
                email=f"{name}@example.org",
                password_hash=password_hash,
                is_site_admin=name == "admin",
            )
            db.add(user)
            made[name] = user
    return made


@pytest.fixture
def actors(users: dict[str, User]) -> dict[str, tuple[str, str] | None]:
    """HTTP Basic credentials per actor kind; ``None`` for anonymous."""
    auth: dict[str, tuple[str, str] | None] = {"anonymous": None}
    auth.update({name: (name, PASSWORD) for name in users})
    return auth


@pytest.fixture
def make_project(ctx: Context, users: dict[str, User]) -> Callable[..., str]:
    """Create a project with owner, member and collaborator; returns its ID."""
    counter = iter(range(1, 1000))

    def make(accessibility: str = "private", label: str | None = None, **fields: Any) -> str:
        label = label or f"P{next(counter):03d}"
        projects.create(ctx, SYSTEM, ProjectCreate(id=label, accessibility=accessibility, **fields))
        for role in ROLES:
            roles.set_role(ctx, SYSTEM, label, role, Role.parse(role))
        return label

    return make


# Fixtures that start or drive a program outside the test process: a test that uses one is
# an interop test, and carries the marker (pyproject.toml) so that ``-m interop`` and
# ``-m "not interop"`` choose it right.
INTEROP_FIXTURES = frozenset({"storescu", "browser", "page", "xnat_server"})


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    keep_only_through_deployment(config, items)
    unmarked = [
        item.nodeid
        for item in items
        if INTEROP_FIXTURES & set(getattr(item, "fixturenames", ()))
        and item.get_closest_marker("interop") is None
    ]
    if unmarked:
        raise pytest.UsageError(
            "tests that use a fixture of INTEROP_FIXTURES need @pytest.mark.interop:\n"
            + "\n".join(unmarked)
        )


class LiveServer:
    def __init__(self, app: Any) -> None:
        self.app = app
        config = server.config(app, host="127.0.0.1", port=0, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("live server did not start")
            time.sleep(0.01)
        return self

    @property
    def url(self) -> str:
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's chromium through Playwright, one per test process for every folder that
    drives it: a second sync Playwright in the same process would find the first one's
    event loop running, and fail (as would every asyncio.run after it)."""
    from playwright.sync_api import sync_playwright

    chromium_path = "/usr/bin/chromium"
    if not Path(chromium_path).exists():
        pytest.fail(f"{chromium_path} is needed; scripts/ensure-services.sh installs it")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=chromium_path,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def live_server(app: Any, request: pytest.FixtureRequest) -> Iterator[LiveServer | Through]:
    """The app behind a real uvicorn on a loopback port, for concurrency and wire tests; on
    PostgreSQL, with ``--through-deployment``, the scaled-out deployment's web servers
    behind a load balancer instead (tests/served_deployment.py)."""
    if through_deployment(request):
        served: ServedDeployment = request.getfixturevalue("served_deployment")
        yield served.through(app)
        return
    with LiveServer(app) as server:
        yield server


@pytest.fixture
def http(live_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.url, timeout=30) as c:
        yield c


@pytest.fixture
def receiver(ctx: Context, request: pytest.FixtureRequest) -> Iterator[Receiver | Through]:
    """The DICOM receiver on a loopback port of its own; AE title MRI_PILOT routes to PILOT.
    On PostgreSQL, with ``--through-deployment``, the deployment's two receivers (one port)."""
    if through_deployment(request):
        served: ServedDeployment = request.getfixturevalue("served_deployment")
        yield served.through(ctx)
        return
    settings = DimseSettings.from_context(ctx)
    settings.port = 0
    settings.ae_projects = {"MRI_PILOT": "PILOT"}
    running = Receiver(ctx, settings).start()
    yield running
    running.stop()


@pytest.fixture
def storescu(receiver: Receiver | Through) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Send files to ``receiver`` with dcmtk's storescu, in one association."""

    def send(
        *files: Path,
        called: str = "SCANDEPOT",
        calling: str = "SCANNER1",
        extra: tuple[str, ...] = (),
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                "storescu",
                "-v",
                "-aet",
                calling,
                "-aec",
                called,
                *extra,
                "127.0.0.1",
                str(receiver.port),
                *map(str, files),
            ],
            env={**os.environ, "TCP_NODELAY": "1"},
            capture_output=True,
            text=True,
            timeout=120,
        )

    return send


@pytest.fixture
def start_orthanc(tmp_path: Path) -> Iterator[StartOrthanc]:
    """Starts Orthanc peers for the test (tests/orthanc_peer.py); they stop with it."""
    yield from orthanc_starter(tmp_path)
