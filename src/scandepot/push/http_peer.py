"""What the HTTP destinations (DICOMweb, XNAT) share: one pooled, thread-safe client with
the destination's credentials and TLS, and what a failed exchange is called.

A connection refused, a timeout, a TLS handshake that failed, a 5xx or a 429 are
:class:`~scandepot.push.sending.Unreachable` (trying again later may help); the reason says
what the network or the peer said, a TLS failure with the library's reason.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

import httpx

from scandepot.catalog.push import AuthKind
from scandepot.errors import Invalid
from scandepot.push.sending import Unreachable

ANSWER_SHOWN = 300  # characters of a peer's answer kept in a reason
# Answers that say "not now" rather than "no".
TEMPORARY_STATUSES = frozenset({408, 425, 429})


@dataclass(frozen=True, slots=True)
class HttpPeer:
    """Where an HTTP destination is and how to talk to it; ``secret`` in clear, read from
    the store or the environment by whoever made this."""

    url: str
    auth: str = AuthKind.NONE.value
    username: str | None = None
    secret: str | None = None
    verify_tls: bool = True
    ca_bundle: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    timeout_s: float = 60
    connections: int = 4

    @property
    def root(self) -> str:
        return self.url.rstrip("/")


def tls_context(peer: HttpPeer) -> ssl.SSLContext:
    """The TLS settings: the system's CAs (or ``ca_bundle``), verification unless switched
    off, and the client certificate when there is one."""
    try:
        context = ssl.create_default_context(cafile=peer.ca_bundle or None)
        if not peer.verify_tls:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if peer.client_cert:
            context.load_cert_chain(peer.client_cert, peer.client_key or None)
    except (OSError, ssl.SSLError) as exc:
        raise Invalid(
            f"The TLS files of the destination cannot be used: {reason_of(exc)}",
            field="client_cert" if peer.client_cert else "ca_bundle",
        ) from None
    return context


def client(peer: HttpPeer) -> httpx.Client:
    """A client for ``peer``: ``connections`` kept open, its auth on every request."""
    auth: httpx.Auth | None = None
    headers = {}
    if peer.auth == AuthKind.BASIC:
        auth = httpx.BasicAuth(peer.username or "", peer.secret or "")
    elif peer.auth == AuthKind.BEARER:
        headers["Authorization"] = f"Bearer {peer.secret or ''}"
    limits = httpx.Limits(
        max_connections=peer.connections, max_keepalive_connections=peer.connections
    )
    return httpx.Client(
        auth=auth,
        headers=headers,
        verify=tls_context(peer),
        timeout=httpx.Timeout(peer.timeout_s),
        limits=limits,
        follow_redirects=False,
    )


def reason_of(exc: BaseException) -> str:
    """What went wrong, in words: the TLS library's reason when there is one."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return f"TLS certificate not trusted: {seen.verify_message or seen.reason}"
        if isinstance(seen, ssl.SSLError):
            return f"TLS error: {seen.reason or seen}"
        seen = seen.__cause__ or seen.__context__
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out ({type(exc).__name__})"
    text = str(exc) or type(exc).__name__
    return text


def is_tls_failure(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def unreachable(exc: httpx.TransportError, url: str) -> Unreachable:
    return Unreachable(f"{url}: {reason_of(exc)}")


def status_reason(response: httpx.Response) -> str:
    """``HTTP 503 Service Unavailable: <the start of the answer>``."""
    text = response.text.strip().replace("\n", " ")[:ANSWER_SHOWN]
    head = f"HTTP {response.status_code} {response.reason_phrase}".rstrip()
    return f"{head}: {text}" if text else head


def is_temporary(status: int) -> bool:
    return status >= 500 or status in TEMPORARY_STATUSES


def checked_answer(response: httpx.Response, what: str) -> httpx.Response:
    """For a check: ``response`` when it is a success; otherwise Unreachable (5xx, 429)
    or Invalid (credentials refused, not found: trying again will not mend it)."""
    if response.is_success:
        return response
    reason = status_reason(response)
    if is_temporary(response.status_code):
        raise Unreachable(f"{what}: {reason}")
    if response.status_code in (401, 403):
        raise Invalid(f"{what}: the credentials were refused ({reason}).", field="secret")
    raise Invalid(f"{what}: {reason}", field="url")


def credentials_accepted(response: httpx.Response, what: str) -> None:
    """While sending: a 401 or 403 is the destination refusing our credentials, for every
    instance alike, so the push stops at once (Invalid) rather than failing them one by
    one."""
    if response.status_code in (401, 403):
        reason = status_reason(response)
        raise Invalid(f"{what}: the credentials were refused ({reason}).", field="secret")


def check_transport(exc: httpx.TransportError, url: str) -> Exception:
    """For a check: a TLS failure is Invalid (the certificate, a CA bundle or a client
    certificate must change); anything else Unreachable."""
    if is_tls_failure(exc):
        return Invalid(f"{url}: {reason_of(exc)}", field="ca_bundle")
    return unreachable(exc, url)
