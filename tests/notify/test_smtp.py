"""Email through a real SMTP server (aiosmtpd): the message as a mail client reads it,
each kind of connection, and how each failure is told apart."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from scandepot.context import Context
from scandepot.notify import smtp
from tests.notify.helpers import queue, row, use
from tests.notify.mailserver import HANG_UP, MailServer


def test_a_message_as_the_server_received_it(ctx: Context, mail_server: MailServer) -> None:
    use(ctx, mail_server, mail_from="Archive <archive@example.org>")
    [rid] = queue(ctx, "alice@example.org")
    sent = row(ctx, rid)
    attempt = smtp.deliver(ctx, sent)
    assert (attempt.ok, attempt.code, attempt.permanent) == (True, 250, False)
    [got] = mail_server.wait_for(1)
    assert got.sender == "archive@example.org" and got.recipients == ["alice@example.org"]
    message = got.message
    assert message["From"] == "Archive <archive@example.org>"
    assert message["To"] == "alice@example.org"
    assert message["Subject"] == "Session archived for alice@example.org"
    assert message["Message-ID"] == sent.message_key
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Date"].datetime is not None
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    assert (
        text.get_content().replace("\r\n", "\n")
        == "Session S1 was archived.\nFor alice@example.org.\n"
    )
    assert html.get_content().strip() == "<p>Session <b>S1</b></p>"


def test_text_alone_without_html(ctx: Context, mail_server: MailServer) -> None:
    use(ctx, mail_server)
    [rid] = queue(ctx, "bob@example.org", html="")
    assert smtp.deliver(ctx, row(ctx, rid)).ok
    [got] = mail_server.wait_for(1)
    assert got.message.get_content_type() == "text/plain"


@pytest.mark.parametrize("mode", ["starttls", "tls"])
def test_tls_and_auth(ctx: Context, tmp_path: Path, mode: str) -> None:
    server = MailServer(tmp_path, mode=mode, auth=True).start()
    try:
        use(ctx, server)
        [rid] = queue(ctx, "carol@example.org")
        attempt = smtp.deliver(ctx, row(ctx, rid))
        assert attempt.ok, attempt.error
        assert server.wait_for(1)[0].recipients == ["carol@example.org"]
    finally:
        server.stop()


def test_a_wrong_password_is_tried_again_and_says_so(ctx: Context, tmp_path: Path) -> None:
    server = MailServer(tmp_path, mode="starttls", auth=True).start()
    try:
        use(ctx, server, smtp_password="not-the-password")
        [rid] = queue(ctx, "dave@example.org")
        attempt = smtp.deliver(ctx, row(ctx, rid))
        assert (attempt.ok, attempt.permanent, attempt.code) == (False, False, 535)
        assert "refused the user name or password" in attempt.error
        assert "not-the-password" not in attempt.error
        assert server.received == []
    finally:
        server.stop()


@pytest.mark.parametrize("mode", ["starttls", "tls"])
def test_an_untrusted_certificate_is_refused(ctx: Context, tmp_path: Path, mode: str) -> None:
    server = MailServer(tmp_path, mode=mode).start()
    try:
        use(ctx, server, smtp_ca_file=None)  # the system's CAs do not know the test CA
        [rid] = queue(ctx, "erin@example.org")
        attempt = smtp.deliver(ctx, row(ctx, rid))
        assert (attempt.ok, attempt.permanent) == (False, False)
        assert "certificate" in attempt.error and "smtp_ca_file" in attempt.error
        assert server.received == []
    finally:
        server.stop()


def test_starttls_is_required_when_set(ctx: Context, mail_server: MailServer) -> None:
    use(ctx, mail_server, smtp_security="starttls")  # a server without STARTTLS
    [rid] = queue(ctx, "frank@example.org")
    attempt = smtp.deliver(ctx, row(ctx, rid))
    assert (attempt.ok, attempt.permanent) == (False, False)
    assert "does not offer STARTTLS" in attempt.error
    assert mail_server.received == []


def test_replies_told_apart(ctx: Context, mail_server: MailServer) -> None:
    use(ctx, mail_server)
    mail_server.handler.refuse_rcpt["gone@example.org"] = "550 5.1.1 no such user"
    mail_server.handler.refuse_rcpt["full@example.org"] = "452 4.2.2 mailbox full"
    mail_server.handler.answers += ["451 4.3.0 try later", "554 5.6.0 message refused", HANG_UP]
    ids = queue(
        ctx,
        "gone@example.org",
        "full@example.org",
        "later@example.org",
        "spam@example.org",
        "cut@example.org",
        "fine@example.org",
    )
    # One connection for all: a refusal leaves it usable, a hang-up opens another.
    results = {r.target: a for r, a in smtp.deliver_each(ctx, [row(ctx, i) for i in ids])}
    assert {t: (a.ok, a.code, a.permanent) for t, a in results.items()} == {
        "gone@example.org": (False, 550, True),
        "full@example.org": (False, 452, False),
        "later@example.org": (False, 451, False),
        "spam@example.org": (False, 554, True),
        "cut@example.org": (False, None, False),
        "fine@example.org": (True, 250, False),
    }
    assert "refused the address gone@example.org: 550 5.1.1 no such user" in (
        results["gone@example.org"].error
    )
    assert "refused the message: 554 5.6.0 message refused" in results["spam@example.org"].error
    assert "closed the connection" in results["cut@example.org"].error
    assert [r.recipients for r in mail_server.wait_for(1)] == [["fine@example.org"]]


def test_a_server_that_is_down(ctx: Context, mail_server: MailServer) -> None:
    use(ctx, mail_server)
    mail_server.stop()
    ids = queue(ctx, "a@example.org", "b@example.org")
    attempts = [a for _, a in smtp.deliver_each(ctx, [row(ctx, i) for i in ids])]
    assert [(a.ok, a.permanent) for a in attempts] == [(False, False)] * 2
    assert all("connection refused" in a.error for a in attempts)


def test_no_mail_server_writes_the_log(ctx: Context, caplog: pytest.LogCaptureFixture) -> None:
    use(ctx, None)
    [rid] = queue(ctx, "grace@example.org")
    with caplog.at_level(logging.INFO, logger="scandepot.notify"):
        attempt = smtp.deliver(ctx, row(ctx, rid))
    assert attempt.ok and attempt.error == smtp.LOGGED
    assert "grace@example.org" in caplog.text
    assert "Session archived for grace@example.org" in caplog.text
    assert "Session S1 was archived." in caplog.text


def test_a_row_that_cannot_be_an_email_is_refused(ctx: Context, mail_server: MailServer) -> None:
    use(ctx, mail_server)
    ids = queue(ctx, "a@example.org\nBcc: b@example.org", "c@example.org")
    attempts = [a for _, a in smtp.deliver_each(ctx, [row(ctx, i) for i in ids])]
    assert [(a.ok, a.permanent) for a in attempts] == [(False, True), (True, False)]
    assert "cannot be written as email" in attempts[0].error
    assert [r.recipients for r in mail_server.wait_for(1)] == [["c@example.org"]]
