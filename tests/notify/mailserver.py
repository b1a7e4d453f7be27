"""A real SMTP server for the tests: aiosmtpd on a loopback port, plain, STARTTLS with a
certificate of a test CA, or implicit TLS, with AUTH when asked; what it accepted is
parsed with the standard library, as a mail client would."""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword

USER, PASSWORD = "mailer", "mail-secret"
HANG_UP = "hang up"  # an answer to DATA: the connection is dropped instead of a reply


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage


@dataclass
class Handler:
    """Accepts messages; ``answers`` are given, one per DATA, before accepting again
    (:data:`HANG_UP`: the server drops the connection mid-message, with no reply)."""

    received: list[Received] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)
    refuse_rcpt: dict[str, str] = field(default_factory=dict)  # address -> reply
    delay_s: float = 0.0  # a slow server: each DATA is answered after this long
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: Any, session: Any, envelope: Envelope, address: str, options: Any
    ) -> str:
        reply = self.refuse_rcpt.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802
        self, server: Any, session: Any, envelope: Envelope
    ) -> str:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        with self.lock:
            if self.answers:
                answer = self.answers.pop(0)
                if answer == HANG_UP:
                    server.transport.abort()
                return answer
            parsed = email.message_from_bytes(
                bytes(envelope.content or b""), policy=email.policy.default
            )
            assert isinstance(parsed, EmailMessage)
            self.received.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos), parsed))
        return "250 Message accepted for delivery"


class MailServer:
    def __init__(self, tmp: Path, *, mode: str = "plain", auth: bool = False) -> None:
        self.handler = Handler()
        self.mode = mode
        self.ca = trustme.CA()
        cert = self.ca.issue_cert("127.0.0.1", "localhost")
        self.ca_file = tmp / "mail-ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))
        server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(server_tls)
        kwargs: dict[str, Any] = {"hostname": "127.0.0.1", "port": free_port()}
        if mode == "starttls":
            kwargs.update(tls_context=server_tls, require_starttls=True)
        elif mode == "tls":
            kwargs.update(ssl_context=server_tls)
        if auth:
            kwargs.update(authenticator=_authenticate, auth_required=True)
            if mode != "starttls":  # implicit TLS is TLS, though aiosmtpd cannot tell
                kwargs.update(auth_require_tls=False)
        self._kwargs = kwargs
        self.running = False
        self.controller = Controller(self.handler, server_hostname="localhost", **kwargs)

    def start(self) -> MailServer:
        """Listen (again, after :meth:`stop`: the same port, what it received kept)."""
        if self.controller.loop.is_closed():
            kwargs = self._kwargs
            self.controller = Controller(self.handler, server_hostname="localhost", **kwargs)
        self.controller.start()
        self.running = True
        return self

    def stop(self) -> None:
        """Stop listening (again: nothing happens)."""
        if self.running:
            self.controller.stop()
            self.running = False

    @property
    def port(self) -> int:
        return int(self.controller.port)

    def settings(self) -> dict[str, Any]:
        """The scandepot settings that send to this server."""
        values: dict[str, Any] = {
            "smtp_host": "127.0.0.1",
            "smtp_port": self.port,
            "smtp_security": {"plain": "none"}.get(self.mode, self.mode),
            "smtp_ca_file": self.ca_file,
        }
        if self.controller.SMTP_kwargs.get("authenticator") is not None:
            values.update(smtp_user=USER, smtp_password=PASSWORD)
        return values

    @property
    def received(self) -> list[Received]:
        with self.handler.lock:
            return list(self.handler.received)

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.received)} messages arrived, not {count}")
            time.sleep(0.05)
        return self.received


def free_port() -> int:
    """A loopback port nobody holds now (aiosmtpd needs the number before it listens)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _authenticate(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    if (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == USER.encode()
        and auth_data.password == PASSWORD.encode()
    ):
        return AuthResult(success=True)
    return AuthResult(success=False, handled=False)
