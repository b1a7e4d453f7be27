"""The XNAT-compatible API's real peers: xnatpy (``xnat``) and pyxnat, unchanged, against
the app behind a real uvicorn on a loopback port (``xnat_server``).

A test that uses ``xnat_server`` is an interop test (tests/conftest.py, INTEROP_FIXTURES).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.conftest import PASSWORD, LiveServer


@pytest.fixture
def xnat_server(live_server: LiveServer, users: dict[str, Any]) -> str:
    """The server's address, as a script would give it to xnatpy or pyxnat."""
    return live_server.url


@pytest.fixture
def xnatpy(xnat_server: str) -> Iterator[Callable[..., Any]]:
    """``xnatpy("member")``: an xnatpy connection signed in as that account."""
    import xnat

    opened: list[Any] = []

    def connect(login: str = "admin", password: str = PASSWORD, **options: Any) -> Any:
        logger = logging.getLogger(f"xnatpy-test-{login}")
        session = xnat.connect(xnat_server, user=login, password=password, logger=logger, **options)
        opened.append(session)
        return session

    yield connect
    for session in opened:
        session.disconnect()


@pytest.fixture
def pyxnat_interface(xnat_server: str) -> Callable[..., Any]:
    """``pyxnat_interface("member")``: a pyxnat Interface signed in as that account."""
    import pyxnat

    def connect(login: str = "admin", password: str = PASSWORD) -> Any:
        return pyxnat.Interface(server=xnat_server, user=login, password=password)

    return connect
