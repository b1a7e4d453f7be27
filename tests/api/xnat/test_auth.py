"""Signing in as XNAT clients do: JSESSION, services/auth, Basic with a token, and the
rule that only JSESSIONID (never the browser's cookie) is accepted under /data."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from scandepot.access import logins
from tests.conftest import PASSWORD


def jsession(secret: str) -> dict[str, str]:
    return {"cookie": f"JSESSIONID={secret}"}


def test_jsession_by_basic_then_cookie(client: TestClient, users: Any) -> None:
    r = client.post("/data/JSESSION", auth=("member", PASSWORD))
    assert r.status_code == 200
    secret = r.text
    assert r.cookies.get("JSESSIONID") == secret
    assert "samesite=strict" in r.headers["set-cookie"].lower()
    client.cookies.clear()
    r = client.get("/data/auth", headers=jsession(secret))
    assert r.text == "User 'member' is logged in"
    # The same session comes back when asked with its own cookie.
    assert client.get("/data/JSESSION", headers=jsession(secret)).text == secret
    r = client.delete("/data/JSESSION", headers=jsession(secret))
    assert r.status_code == 200
    client.cookies.clear()
    # Ended: the cookie names no one, so the caller is a guest again.
    assert client.get("/data/auth", headers=jsession(secret)).status_code == 401


def test_services_auth_takes_a_form(client: TestClient, users: Any) -> None:
    r = client.put("/data/services/auth", data={"username": "owner", "password": PASSWORD})
    assert r.status_code == 200 and len(r.text) > 30
    client.cookies.clear()
    assert client.get("/data/auth", headers=jsession(r.text)).text == ("User 'owner' is logged in")
    bad = client.put("/data/services/auth", data={"username": "owner", "password": "wrong"})
    assert bad.status_code == 401
    assert "<h3>Invalid credentials.</h3>" in bad.text
    assert client.put("/data/services/auth", data={}).status_code == 400


def test_api_token_as_the_password(client: TestClient, users: Any) -> None:
    r = client.post("/api/v1/auth/tokens", json={"name": "script"}, auth=("member", PASSWORD))
    token = r.json()["token"]
    assert client.get("/data/auth", auth=("member", token)).text == "User 'member' is logged in"
    # A token is only good with its own account's login.
    assert client.get("/data/auth", auth=("owner", token)).status_code == 401


def test_browser_cookie_is_not_accepted_under_data(client: TestClient, users: Any) -> None:
    r = client.post("/api/v1/auth/login", json={"login": "member", "password": PASSWORD})
    assert r.status_code == 200
    assert client.cookies.get(logins.COOKIE)
    # The browser's sign-in means nothing here: a page on another site cannot act with it.
    assert client.get("/data/auth").status_code == 401


def test_an_ended_or_forged_jsession_is_a_guest(client: TestClient) -> None:
    assert client.get("/data/auth", headers=jsession("F" * 32)).status_code == 401
    assert client.get("/data/version", headers=jsession("F" * 32)).status_code == 200


def test_rest_is_the_old_name_of_data(client: TestClient, users: Any) -> None:
    assert client.get("/REST/auth", auth=("member", PASSWORD)).text == (
        "User 'member' is logged in"
    )


@pytest.mark.interop
def test_pyxnat_signs_in(pyxnat_interface: Any) -> None:
    interface = pyxnat_interface("member")
    assert interface.version() in (b"1.8.10", "1.8.10")
    assert interface._get_entry_point() == "/data"
    interface.disconnect()


@pytest.mark.interop
def test_wrong_password_is_refused_by_xnatpy(xnat_server: str) -> None:
    import xnat
    from xnat.exceptions import XNATLoginFailedError

    with pytest.raises(XNATLoginFailedError):
        xnat.connect(xnat_server, user="member", password="wrong", no_parse_model=True)


@pytest.mark.interop
def test_xnatpy_signs_in(xnatpy: Any, xnat_server: str) -> None:
    session = xnatpy("member", no_parse_model=True)
    assert session.logged_in_user == "member"
    assert session.xnat_version == "1.8.10"
    assert httpx.get(f"{xnat_server}/data/auth").status_code == 401
