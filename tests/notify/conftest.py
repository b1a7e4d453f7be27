from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.notify.mailserver import MailServer
from tests.notify.webhook_receiver import Receiver


@pytest.fixture
def mail_server(tmp_path: Path) -> Iterator[MailServer]:
    """A plain SMTP server on a loopback port (see mailserver.MailServer for the others)."""
    server = MailServer(tmp_path).start()
    yield server
    server.stop()


@pytest.fixture
def hook_receiver() -> Iterator[Receiver]:
    """A real HTTP server on a loopback port that records webhook deliveries."""
    server = Receiver().start()
    yield server
    server.stop()
