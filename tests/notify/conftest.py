from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.notify.mailserver import MailServer


@pytest.fixture
def mail_server(tmp_path: Path) -> Iterator[MailServer]:
    """A plain SMTP server on a loopback port (see mailserver.MailServer for the others)."""
    server = MailServer(tmp_path).start()
    yield server
    server.stop()
