"""The destinations a site pushes to, and the sender that talks to each.

:func:`open_sender` chooses the kind's sender (stow.py, dimse.py, xnat.py) with the
destination's address, credentials (read from the store or the environment now) and TLS.
"""

from __future__ import annotations

from scandepot.catalog.push import DestinationKind, PushDestination
from scandepot.context import Context
from scandepot.errors import Invalid
from scandepot.push import secrets
from scandepot.push.http_peer import HttpPeer
from scandepot.push.sending import Sender


def http_peer(ctx: Context, destination: PushDestination) -> HttpPeer:
    """The HTTP side of ``destination`` (DICOMweb, XNAT), its secret read now."""
    if not destination.url:
        raise Invalid(f"Destination '{destination.name}' has no URL.", field="url")
    return HttpPeer(
        url=destination.url,
        auth=destination.auth,
        username=destination.username,
        secret=secrets.resolve(
            ctx, destination.secret, destination.secret_env, name=destination.name
        ),
        verify_tls=destination.verify_tls,
        ca_bundle=destination.ca_bundle,
        client_cert=destination.client_cert,
        client_key=destination.client_key,
        timeout_s=ctx.settings.push_timeout_s,
        connections=destination.concurrency,
    )


def open_sender(ctx: Context, destination: PushDestination) -> Sender:
    """The sender of ``destination``'s kind; the caller closes it. Raises Invalid when the
    destination cannot be used as it is (a secret that cannot be read, TLS files)."""
    kind = destination.kind
    if kind == DestinationKind.DICOMWEB:
        from scandepot.push.stow import StowSender

        return StowSender(http_peer(ctx, destination))
    raise Invalid(f"Destination '{destination.name}' is of unknown kind '{kind}'.", field="kind")
