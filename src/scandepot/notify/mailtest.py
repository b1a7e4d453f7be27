"""``scandepot mail test``: one message sent at once with the settings in force, not
through the outbox, showing what the mail server answered at each step."""

from __future__ import annotations

import email.utils
import smtplib
from email.message import EmailMessage

from scandepot.errors import Invalid
from scandepot.notify import outbox, smtp
from scandepot.notify.addresses import checked
from scandepot.notify.outbox import Attempt
from scandepot.settings import Settings


def message(settings: Settings, to: str) -> EmailMessage:
    test = EmailMessage()
    test["From"] = settings.mail_from
    test["To"] = to
    test["Subject"] = "scandepot: test message"
    test["Date"] = email.utils.formatdate(localtime=False, usegmt=True)
    test["Message-ID"] = outbox.message_key(settings)
    test["Auto-Submitted"] = "auto-generated"
    test.set_content(
        f"This is a test message from the scandepot archive at {settings.public_url}.\n\n"
        f"It was sent through {smtp.where(settings)}; notifications from the archive "
        "reach this address the same way.\n"
    )
    return test


def recipient(settings: Settings, address: str) -> str:
    """``address`` in normal form, when a test message can go to it; Invalid otherwise
    (a bad address, or no mail server set)."""
    to = checked(address, field="address")
    if not settings.smtp_host:
        raise Invalid(
            "No mail server is set (smtp_host, SCANDEPOT_SMTP_HOST): messages are written to "
            "the log instead of sent.",
            field="smtp_host",
        )
    return to


def send(settings: Settings, address: str, trace: smtp.Trace) -> Attempt:
    """Send a test message to ``address``, telling ``trace`` each reply of the server;
    how it went."""
    to = recipient(settings, address)
    try:
        conn = smtp.connect(settings, trace)
    except (smtplib.SMTPException, OSError) as exc:
        return smtp.describe(exc, settings)
    try:
        code, reply = smtp.transact(conn, smtp.envelope_sender(settings), to, message(settings, to))
    except (smtplib.SMTPException, OSError) as exc:
        return smtp.describe(exc, settings)
    finally:
        conn.close()
    trace("DATA", code, reply)
    return Attempt(ok=True, code=code)
