"""`scandepot mail test ADDRESS`: what the mail server answered, and what goes wrong."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from scandepot.cli.main import app as cli
from tests.notify.mailserver import MailServer

runner = CliRunner()


def mail_test(tmp_path: Path, address: str, **settings: Any) -> tuple[int, str, str]:
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("SCANDEPOT_")}
    env["SCANDEPOT_DATA_DIR"] = str(tmp_path / "data")
    env.update({f"SCANDEPOT_{k.upper()}": str(v) for k, v in settings.items()})
    result = runner.invoke(cli, ["mail", "test", address], env=env)
    return result.exit_code, result.stdout, result.stderr


def test_starttls_and_auth(tmp_path: Path) -> None:
    server = MailServer(tmp_path, mode="starttls", auth=True).start()
    try:
        code, out, err = mail_test(
            tmp_path, " Alice@Example.ORG ", **server.settings(), mail_from="a@example.org"
        )
        assert (code, err) == (0, ""), out
        lines = out.splitlines()
        assert lines[0] == f"connecting to 127.0.0.1:{server.port} (starttls)"
        assert lines[1].startswith("EHLO: 250 localhost") and "STARTTLS" in lines[1]
        assert lines[2] == "STARTTLS: 220 Ready to start TLS"
        assert lines[3].startswith("EHLO: 250 localhost") and "AUTH" in lines[3]
        assert lines[4] == "AUTH: 235 2.7.0 Authentication successful"
        assert lines[5] == "DATA: 250 Message accepted for delivery"
        assert lines[6] == "sent to Alice@example.org: the mail server accepted it"
        [got] = server.wait_for(1)
        assert got.recipients == ["Alice@example.org"]
        assert got.message["Subject"] == "scandepot: test message"
        assert got.message["Message-ID"]
    finally:
        server.stop()


def test_refused(tmp_path: Path, mail_server: MailServer) -> None:
    mail_server.handler.refuse_rcpt["gone@example.org"] = "550 5.1.1 no such user"
    code, out, err = mail_test(tmp_path, "gone@example.org", **mail_server.settings())
    assert code == 1
    assert "EHLO: 250" in out
    assert "refused the address gone@example.org: 550 5.1.1 no such user" in err


def test_wrong_password(tmp_path: Path) -> None:
    server = MailServer(tmp_path, mode="tls", auth=True).start()
    try:
        code, out, err = mail_test(
            tmp_path, "a@example.org", **{**server.settings(), "smtp_password": "wrong"}
        )
    finally:
        server.stop()
    assert code == 1
    assert "refused the user name or password" in err and "535" in err


def test_a_server_that_is_down(tmp_path: Path, mail_server: MailServer) -> None:
    mail_server.stop()
    code, _, err = mail_test(tmp_path, "a@example.org", **mail_server.settings())
    assert code == 1
    assert f"cannot connect to 127.0.0.1:{mail_server.port} (none): connection refused" in err


def test_a_bad_address(tmp_path: Path, mail_server: MailServer) -> None:
    code, out, err = mail_test(tmp_path, "not an address", **mail_server.settings())
    assert (code, out) == (1, "")
    assert err.startswith("error: 'not an address' is not an email address")
    assert mail_server.received == []


def test_no_mail_server(tmp_path: Path) -> None:
    code, out, err = mail_test(tmp_path, "a@example.org")
    assert (code, out) == (1, "")
    assert "No mail server is set (smtp_host, SCANDEPOT_SMTP_HOST)" in err
