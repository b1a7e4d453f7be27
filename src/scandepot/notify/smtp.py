"""Email out of the outbox, through the site's mail server (or into the log without one).

One message per row, built with the standard library: From the site's ``mail_from``, To
the row's address, its Message-ID the row's ``message_key`` on every attempt (a message
sent twice across a crash is recognisably the same one), plain text with an HTML
alternative. How an attempt went:

- accepted (2xx): sent;
- the recipient or the message refused for good (5xx to RCPT or DATA): refused, never
  tried again, shown to the site administrators;
- anything else (4xx, the server down or closing mid-message, a timeout, TLS or AUTH
  failing, the sender address refused): tried again after a back-off.
"""

from __future__ import annotations

import email.errors
import email.policy
import email.utils
import logging
import smtplib
import ssl
from collections.abc import Callable, Iterable, Iterator
from email.message import EmailMessage

from scandepot.catalog.notify import OutboxMessage
from scandepot.context import Context
from scandepot.db.base import utcnow
from scandepot.notify.outbox import Attempt
from scandepot.settings import Settings

log = logging.getLogger("scandepot.notify")

LOGGED = "logged: no mail server is set"

# What the server said at each step that matters: (step, reply code, reply text).
Trace = Callable[[str, int, str], None]


def build(settings: Settings, row: OutboxMessage) -> EmailMessage:
    """The message of ``row``, the same bytes-to-be on every attempt."""
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = row.target
    message["Subject"] = " ".join(row.subject.split())  # a header is one line
    message["Date"] = email.utils.format_datetime(row.created_at or utcnow())
    message["Message-ID"] = row.message_key
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(row.text)
    if row.html:
        message.add_alternative(row.html, subtype="html")
    return message


def envelope_sender(settings: Settings) -> str:
    """The address in ``mail_from`` ("Archive <archive@example.org>" gives the address)."""
    return email.utils.parseaddr(settings.mail_from)[1] or settings.mail_from


def where(settings: Settings) -> str:
    return f"{settings.smtp_host}:{settings.smtp_port} ({settings.smtp_security})"


def _text(reply: bytes | str) -> str:
    raw = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return " ".join(raw.split())


def connect(settings: Settings, trace: Trace | None = None) -> smtplib.SMTP:
    """A connection ready to send: greeted, TLS as set, signed in when a user is set.
    Raises smtplib and OS errors (``describe`` turns them into words)."""

    def told(step: str, reply: tuple[int, bytes]) -> None:
        if trace is not None:
            trace(step, reply[0], _text(reply[1]))

    host, timeout = settings.smtp_host or "", settings.smtp_timeout_s
    tls = ssl.create_default_context(
        cafile=str(settings.smtp_ca_file) if settings.smtp_ca_file else None
    )
    conn: smtplib.SMTP
    if settings.smtp_security == "tls":
        conn = smtplib.SMTP_SSL(host, settings.smtp_port, timeout=timeout, context=tls)
    else:
        conn = smtplib.SMTP(host, settings.smtp_port, timeout=timeout)
    try:
        told("EHLO", conn.ehlo())
        if settings.smtp_security == "starttls":
            if not conn.has_extn("starttls"):
                raise smtplib.SMTPNotSupportedError(
                    "the mail server does not offer STARTTLS (smtp_security is starttls)"
                )
            told("STARTTLS", conn.starttls(context=tls))
            told("EHLO", conn.ehlo())
        if settings.smtp_user:
            password = settings.smtp_password.get_secret_value() if settings.smtp_password else ""
            told("AUTH", conn.login(settings.smtp_user, password))
    except BaseException:
        conn.close()
        raise
    return conn


def transact(conn: smtplib.SMTP, sender: str, to: str, message: EmailMessage) -> tuple[int, str]:
    """MAIL, RCPT, DATA for one message; the final reply. A refusal raises the smtplib
    error that says which step refused, after the transaction is reset."""
    data = message.as_bytes(policy=email.policy.SMTP)
    code, reply = conn.mail(sender)
    if code != 250:
        _reset(conn)
        raise smtplib.SMTPSenderRefused(code, reply, sender)
    code, reply = conn.rcpt(to)
    if code not in (250, 251):
        _reset(conn)
        raise smtplib.SMTPRecipientsRefused({to: (code, reply)})
    code, reply = conn.data(data)
    if code != 250:
        _reset(conn)
        raise smtplib.SMTPDataError(code, reply)
    return code, _text(reply)


def _reset(conn: smtplib.SMTP) -> None:
    try:
        conn.rset()
    except (smtplib.SMTPException, OSError):
        pass  # the connection is gone: the next message opens another


def describe(exc: BaseException, settings: Settings) -> Attempt:
    """How an attempt that raised ``exc`` went, in words an administrator can act on."""
    at = where(settings)
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, reply = next(iter(exc.recipients.values()))
        who = ", ".join(exc.recipients)
        return Attempt(
            ok=False,
            code=code,
            error=f"{at} refused the address {who}: {code} {_text(reply)}",
            permanent=500 <= code < 600,
        )
    if isinstance(exc, smtplib.SMTPDataError):
        return Attempt(
            ok=False,
            code=exc.smtp_code,
            error=f"{at} refused the message: {exc.smtp_code} {_text(exc.smtp_error)}",
            permanent=500 <= exc.smtp_code < 600,
        )
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return Attempt(
            ok=False,
            code=exc.smtp_code,
            error=f"{at} refused the sender {exc.sender} (mail_from): "
            f"{exc.smtp_code} {_text(exc.smtp_error)}",
        )
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return Attempt(
            ok=False,
            code=exc.smtp_code,
            error=f"{at} refused the user name or password (smtp_user, smtp_password): "
            f"{exc.smtp_code} {_text(exc.smtp_error)}",
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        return Attempt(
            ok=False,
            code=exc.smtp_code,
            error=f"{at} answered {exc.smtp_code} {_text(exc.smtp_error)}",
        )
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return Attempt(ok=False, error=f"{at} closed the connection: {exc}")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return Attempt(
            ok=False,
            error=f"TLS with {at} failed: {exc.verify_message} (the server's certificate is "
            "not trusted; set smtp_ca_file to the CA that issued it)",
        )
    if isinstance(exc, ssl.SSLError):
        return Attempt(ok=False, error=f"TLS with {at} failed: {exc}")
    if isinstance(exc, TimeoutError):
        return Attempt(ok=False, error=f"{at} did not answer within {settings.smtp_timeout_s:g} s")
    if isinstance(exc, ConnectionRefusedError):
        return Attempt(ok=False, error=f"cannot connect to {at}: connection refused")
    return Attempt(ok=False, error=f"{at}: {exc}")


def _logged(row: OutboxMessage) -> Attempt:
    log.info("email (no mail server is set) to %s: %s\n%s", row.target, row.subject, row.text)
    return Attempt(ok=True, error=LOGGED)


def deliver_each(
    ctx: Context, rows: Iterable[OutboxMessage]
) -> Iterator[tuple[OutboxMessage, Attempt]]:
    """Send ``rows`` over one connection, yielding how each went as soon as it is known
    (the sender keeps each and records its pass's attempts together). A connection lost
    mid-way is opened again for the next row; one that cannot be opened fails the rest
    alike."""
    settings = ctx.settings
    if not settings.smtp_host:
        for row in rows:
            yield row, _logged(row)
        return
    conn: smtplib.SMTP | None = None
    down: Attempt | None = None
    sender = envelope_sender(settings)
    try:
        for row in rows:
            if down is not None:
                yield row, down
                continue
            if conn is None:
                try:
                    conn = connect(settings)
                except (smtplib.SMTPException, OSError) as exc:
                    down = describe(exc, settings)
                    yield row, down
                    continue
            try:
                message = build(settings, row)
            except (ValueError, TypeError, email.errors.MessageError) as exc:
                yield (
                    row,
                    Attempt(ok=False, error=f"cannot be written as email: {exc}", permanent=True),
                )
                continue
            try:
                code, reply = transact(conn, sender, row.target, message)
                attempt = Attempt(ok=True, code=code, error="")
            except (smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError) as exc:
                attempt = describe(exc, settings)  # the connection is still good
            except (smtplib.SMTPException, OSError) as exc:
                attempt = describe(exc, settings)
                conn.close()
                conn = None
            yield row, attempt
    finally:
        if conn is not None:
            _quit(conn)


def _quit(conn: smtplib.SMTP) -> None:
    try:
        conn.quit()
    except (smtplib.SMTPException, OSError):
        conn.close()


def deliver(ctx: Context, row: OutboxMessage) -> Attempt:
    """Send one row; how it went."""
    [(_, attempt)] = list(deliver_each(ctx, [row]))
    return attempt
