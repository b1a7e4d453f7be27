"""Outbox rows and mail settings for the notification tests."""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from scandepot.catalog.notify import OutboxMessage, Topic
from scandepot.context import Context
from scandepot.notify import outbox
from tests.notify.mailserver import MailServer


def use(ctx: Context, server: MailServer | None, **more: Any) -> None:
    """Send through ``server`` (None: no mail server), with short waits."""
    values: dict[str, Any] = {"smtp_timeout_s": 5.0, "notify_batch_s": 0.0}
    values.update(server.settings() if server is not None else {"smtp_host": None})
    values.update(more)
    if isinstance(values.get("smtp_password"), str):  # model_copy does not validate
        values["smtp_password"] = SecretStr(values["smtp_password"])
    ctx.settings = ctx.settings.model_copy(update=values)


def queue(ctx: Context, *addresses: str, html: str = "<p>Session <b>S1</b></p>") -> list[int]:
    """An email to each address in the outbox; their row IDs."""
    with ctx.db.write() as db:
        rows = [
            outbox.add_email(
                db,
                ctx,
                to=address,
                subject=f"Session archived for {address}",
                text=f"Session S1 was archived.\nFor {address}.\n",
                html=html,
                topic=Topic.ARCHIVED,
                project_id=None,
            )
            for address in addresses
        ]
        return [row.id for row in rows]


def row(ctx: Context, row_id: int) -> OutboxMessage:
    [found] = outbox.load(ctx, [row_id])
    return found
