"""The suite's tests over the network, through a scaled-out deployment:
``pytest --through-deployment`` (``make test`` runs it after the rest).

On PostgreSQL, a test that talks to scandepot over the network (``live_server`` and what
builds on it: ``http``, ``xnat_server``, ``page``; ``receiver`` and ``storescu``) then
reaches, instead of the app on a uvicorn or the receiver in the test process, a deployment
of separate processes (tests/deployment.py): two web servers (`scandepot serve
--no-dicom`) behind nginx with the site file the repository ships (tests/balancer.py),
two DICOM receivers (`scandepot dicom`) sharing one port, and a Celery worker on Redis,
over a PostgreSQL catalog of its own and one data folder. The test's ``ctx`` is a context
on that catalog and folder: what a test sets up through it, the deployment serves, and
what the deployment does, the test sees. With the option, only those tests run: the rest
ran without it.

One deployment per test process, started at its first such test. Between tests the
catalog is emptied as for any test, and the data folder too, once the worker has ended
the last test's jobs.

The deployment's builders wait an hour before they build a session: as with the app on
a uvicorn, which runs no builder, a test builds its sessions itself when it needs them
built (``prearchive.worker.run_once``). A test that reaches into the server it talks to
(sets its settings, reads its log, runs or cancels its jobs itself, stops it) says so
with ``@pytest.mark.in_process("why")`` and talks to the test process's server."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from scandepot.catalog.pipelines import Job
from scandepot.db.engine import Database
from scandepot.settings import Settings
from tests.balancer import Balancer
from tests.deployment import Deployment, ae_projects, deployment

OPTION = "--through-deployment"
# What a test over the network needs of a server: a fixture in this set.
SERVED = frozenset({"live_server", "receiver"})


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        OPTION,
        action="store_true",
        help="on PostgreSQL, tests over the network reach a scaled-out deployment",
    )


def _served(item: pytest.Item) -> bool:
    """Whether ``item`` reaches its server through a deployment, given the option."""
    callspec = getattr(item, "callspec", None)
    return (
        bool(SERVED & set(getattr(item, "fixturenames", ())))
        and item.get_closest_marker("in_process") is None
        and callspec is not None
        and callspec.params.get("backend") == "postgresql"
    )


def through_deployment(request: pytest.FixtureRequest) -> bool:
    """Whether this test reaches its server through the deployment."""
    return bool(request.config.getoption(OPTION)) and _served(request.node)


def keep_only_through_deployment(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With the option, run only the tests it changes (the rest ran without it)."""
    if not config.getoption(OPTION):
        return
    kept = [item for item in items if _served(item)]
    config.hook.pytest_deselected(items=[item for item in items if not _served(item)])
    items[:] = kept


@dataclass
class Through:
    """What a test over the network is given in place of a live server or a receiver:
    the balancer's address, the receivers' port, and the test process's app or context
    (whose subscribers follow the events of the test's own context)."""

    url: str
    port: int
    app: Any


class ServedDeployment:
    def __init__(self, deployment: Deployment, balancer: Balancer) -> None:
        self.deployment, self.balancer = deployment, balancer
        self.db = Database(deployment.database_url)

    @property
    def url(self) -> str:
        return self.balancer.url

    def settle(self, timeout: float = 60) -> None:
        """Wait until no job of the last test is queued or running on the worker, whose
        files the next test's emptying would take away from under it."""
        deadline = time.monotonic() + timeout
        while True:
            with self.db.read() as session:
                unfinished = list(session.scalars(select(Job).where(Job.finished_at.is_(None))))
            if not unfinished:
                return
            assert time.monotonic() < deadline, (
                f"the deployment's jobs {[job.id for job in unfinished]} are unfinished "
                f"{timeout} s after the test that made them\n{self.deployment.logs()}"
            )
            time.sleep(0.2)

    def settings_for_test(self, admin_password: str) -> Settings:
        """A test's settings on the deployment's catalog and an emptied data folder."""
        self.settle()
        data_dir = self.deployment.data_dir
        for entry in list(data_dir.iterdir()) if data_dir.exists() else []:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        data_dir.mkdir(exist_ok=True)
        return self.deployment.settings.model_copy(update={"admin_password": admin_password})

    def through(self, app: Any) -> Through:
        return Through(self.url, self.deployment.dicom_port, app)


@pytest.fixture(scope="session")
def served_deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedDeployment]:
    """The deployment of this test process, on a database of its own: its worker and
    builders act on whatever their catalog holds, which must be only its own tests'."""
    root: Path = tmp_path_factory.mktemp("deployment")
    with deployment(
        root, prearchive_quiet_s="3600", ae_projects=ae_projects(MRI_PILOT="PILOT")
    ) as running:
        servers = [("127.0.0.1", web.port) for web in running.webs]
        with Balancer(root / "nginx", servers) as balancer:
            served = ServedDeployment(running, balancer)
            yield served
            served.db.dispose()
