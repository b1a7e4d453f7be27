"""Sign-in by password, session cookie and API token; CSRF; the failed sign-in limit."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from scandepot.catalog.access import ApiToken, AuditEvent
from scandepot.context import Context
from tests.conftest import PASSWORD
from tests.helpers import API


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def sign_in(client: TestClient, login: str, password: str = PASSWORD) -> dict[str, Any]:
    r = client.post(f"{API}/auth/login", json={"login": login, "password": password})
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_session_cookie_sign_in_and_out(client: TestClient, users: object) -> None:
    r = client.post(f"{API}/auth/login", json={"login": "member", "password": PASSWORD})
    assert r.status_code == 200
    cookie = r.headers["set-cookie"]
    assert "scandepot_session=" in cookie
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie  # plain HTTP here; set over TLS
    me = client.get(f"{API}/auth/me").json()
    assert me["login"] == "member" and me["csrf_token"] == r.json()["csrf_token"]
    csrf = {"x-csrf-token": me["csrf_token"]}
    assert client.post(f"{API}/auth/logout", headers=csrf).status_code == 204
    assert client.get(f"{API}/auth/me").status_code == 401


def test_secure_cookie_over_tls(app: Any, users: object) -> None:
    with TestClient(app, base_url="https://archive.example.org") as tls:
        r = tls.post(f"{API}/auth/login", json={"login": "member", "password": PASSWORD})
        assert "Secure" in r.headers["set-cookie"]


def test_csrf_is_required_for_state_changes_with_the_cookie(
    client: TestClient, users: object
) -> None:
    token = sign_in(client, "owner")["csrf_token"]
    assert client.get(f"{API}/projects").status_code == 200  # reads need no token
    r = client.post(f"{API}/projects", json={"id": "P1"})
    assert r.status_code == 403 and "CSRF" in r.json()["error"]["message"]
    r = client.post(f"{API}/projects", json={"id": "P1"}, headers={"x-csrf-token": "forged"})
    assert r.status_code == 403
    assert client.get(f"{API}/projects/P1").status_code == 404
    r = client.post(f"{API}/projects", json={"id": "P1"}, headers={"x-csrf-token": token})
    assert r.status_code == 201


@pytest.mark.parametrize("cookie", ["", "x", "a" * 500, "'; DROP TABLE user_account;--"])
def test_malformed_or_unknown_cookies_are_refused(client: TestClient, cookie: str) -> None:
    client.cookies.set("scandepot_session", cookie)
    r = client.get(f"{API}/projects")
    # An empty cookie is no cookie at all; anything else must be a live session.
    assert r.status_code == (200 if cookie == "" else 401)
    assert "Traceback" not in r.text


def test_non_ascii_cookie_is_refused(client: TestClient) -> None:
    r = client.get(f"{API}/projects", headers={"cookie": "scandepot_session=é".encode()})
    assert r.status_code == 401


def test_wrong_password_says_nothing_about_the_account(client: TestClient, users: object) -> None:
    wrong = client.post(f"{API}/auth/login", json={"login": "member", "password": "nope"})
    nobody = client.post(f"{API}/auth/login", json={"login": "nobody", "password": "nope"})
    assert wrong.status_code == nobody.status_code == 401
    assert wrong.json() == nobody.json()
    assert "set-cookie" not in wrong.headers


def test_tokens_create_use_list_revoke(client: TestClient, users: object) -> None:
    auth = ("member", PASSWORD)
    r = client.post(f"{API}/auth/tokens", json={"name": "laptop"}, auth=auth)
    assert r.status_code == 201
    token = r.json()["token"]
    assert token.startswith("sdt_") and r.json()["prefix"] == token[:12]
    assert client.get(f"{API}/auth/me", headers=bearer(token)).json()["login"] == "member"
    listed = client.get(f"{API}/auth/tokens", auth=auth).json()
    assert [t["name"] for t in listed] == ["laptop"]
    assert "token" not in listed[0]  # shown once, never again
    assert listed[0]["last_used_at"] is not None
    # Revocation takes effect at once.
    assert client.delete(f"{API}/auth/tokens/{listed[0]['id']}", auth=auth).status_code == 204
    assert client.get(f"{API}/auth/me", headers=bearer(token)).status_code == 401
    assert client.get(f"{API}/auth/tokens", auth=auth).json() == []
    # Nobody revokes someone else's token.
    other = client.post(f"{API}/auth/tokens", json={"name": "x"}, auth=auth).json()
    r = client.delete(f"{API}/auth/tokens/{other['id']}", auth=("owner", PASSWORD))
    assert r.status_code == 404
    assert client.get(f"{API}/auth/me", headers=bearer(other["token"])).status_code == 200


def test_tokens_stored_hashed(client: TestClient, ctx: Context, users: object) -> None:
    token = client.post(f"{API}/auth/tokens", json={"name": "t"}, auth=("member", PASSWORD)).json()[
        "token"
    ]
    with ctx.db.read() as db:
        stored = db.scalars(select(ApiToken.token_hash)).all()
    assert token not in stored and all(len(h) == 64 for h in stored)


def test_token_expiry(client: TestClient, ctx: Context, users: object) -> None:
    new = client.post(
        f"{API}/auth/tokens", json={"name": "t", "expires_in_days": 1}, auth=("member", PASSWORD)
    ).json()
    assert client.get(f"{API}/auth/me", headers=bearer(new["token"])).status_code == 200
    with ctx.db.write() as db:
        past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        db.execute(update(ApiToken).where(ApiToken.id == new["id"]).values(expires_at=past))
    assert client.get(f"{API}/auth/me", headers=bearer(new["token"])).status_code == 401


def test_token_max_days(client: TestClient, ctx: Context, users: object) -> None:
    ctx.settings.token_max_days = 30
    auth = ("member", PASSWORD)
    r = client.post(f"{API}/auth/tokens", json={"name": "t", "expires_in_days": 31}, auth=auth)
    assert r.status_code == 422 and r.json()["error"]["field"] == "expires_in_days"
    r = client.post(f"{API}/auth/tokens", json={"name": "t"}, auth=auth)
    assert r.json()["expires_at"] is not None


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer sdt_",
        "Bearer sdt_" + "x" * 43,
        "Bearer " + "y" * 1000,
        "Bearer sdt_\u00e9",
        "bearer  ",
        "Token abc",
    ],
)
def test_malformed_tokens_are_refused(client: TestClient, header: str) -> None:
    r = client.get(f"{API}/projects", headers={"authorization": header.encode()})
    assert r.status_code == 401 and "Traceback" not in r.text


def test_disabled_users_are_locked_out_at_once(client: TestClient, users: object) -> None:
    token = client.post(f"{API}/auth/tokens", json={"name": "t"}, auth=("member", PASSWORD)).json()[
        "token"
    ]
    browser = TestClient(client.app)
    sign_in(browser, "member")
    assert client.get(f"{API}/auth/me", auth=("member", PASSWORD)).status_code == 200
    r = client.patch(f"{API}/users/member", json={"enabled": False}, auth=("admin", PASSWORD))
    assert r.status_code == 200 and r.json()["enabled"] is False
    assert client.get(f"{API}/auth/me", auth=("member", PASSWORD)).status_code == 401
    assert client.get(f"{API}/auth/me", headers=bearer(token)).status_code == 401
    assert browser.get(f"{API}/auth/me").status_code == 401
    r = client.post(f"{API}/auth/login", json={"login": "member", "password": PASSWORD})
    assert r.status_code == 401
    client.patch(f"{API}/users/member", json={"enabled": True}, auth=("admin", PASSWORD))
    assert client.get(f"{API}/auth/me", headers=bearer(token)).status_code == 200


def test_password_change_ends_the_other_sessions(
    client: TestClient, app: Any, users: object
) -> None:
    first, second = TestClient(app), TestClient(app)
    sign_in(first, "member")
    csrf = sign_in(second, "member")["csrf_token"]
    r = second.post(
        f"{API}/auth/password",
        json={"current_password": PASSWORD, "new_password": "a-new-long-password"},
        headers={"x-csrf-token": csrf},
    )
    assert r.status_code == 204
    assert second.get(f"{API}/auth/me").status_code == 200  # this one goes on
    assert first.get(f"{API}/auth/me").status_code == 401
    assert client.get(f"{API}/auth/me", auth=("member", PASSWORD)).status_code == 401
    assert client.get(f"{API}/auth/me", auth=("member", "a-new-long-password")).status_code == 200


def test_password_rules(client: TestClient, users: object) -> None:
    auth = ("member", PASSWORD)
    r = client.post(
        f"{API}/auth/password",
        json={"current_password": "wrong", "new_password": "long-enough-1"},
        auth=auth,
    )
    assert r.status_code == 422 and r.json()["error"]["field"] == "current_password"
    r = client.post(
        f"{API}/auth/password",
        json={"current_password": PASSWORD, "new_password": "short"},
        auth=auth,
    )
    assert r.status_code == 422 and r.json()["error"]["field"] == "new_password"


def test_failed_sign_ins_are_limited_per_account_and_lift(
    client: TestClient, ctx: Context, users: object
) -> None:
    limit = ctx.settings.login_failures_per_account
    for _ in range(limit):
        r = client.post(f"{API}/auth/login", json={"login": "member", "password": "guess"})
        assert r.status_code == 401
    # Now even the right password is refused, by form and by Basic alike.
    r = client.post(f"{API}/auth/login", json={"login": "member", "password": PASSWORD})
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    assert client.get(f"{API}/auth/me", auth=("member", PASSWORD)).status_code == 429
    # Other accounts are not affected by this one's limit.
    assert client.get(f"{API}/auth/me", auth=("owner", PASSWORD)).status_code == 200
    # Time passes: move the recorded failures out of the window.
    window = dt.timedelta(seconds=ctx.settings.login_failure_window_s + 1)
    with ctx.db.write() as db:
        for event in db.scalars(select(AuditEvent).where(AuditEvent.action == "auth.login_failed")):
            event.at = event.at - window
    assert client.get(f"{API}/auth/me", auth=("member", PASSWORD)).status_code == 200


def test_guesses_at_once_are_limited_as_guesses_one_after_another(
    ctx: Context, users: object
) -> None:
    """Twenty wrong passwords at once: no more are checked than the limit allows, since
    a sign-in holds its login from the count's check to the record of its outcome."""
    from concurrent.futures import ThreadPoolExecutor

    from scandepot.access import users as accounts
    from scandepot.access.throttle import TooManyAttempts
    from scandepot.errors import Unauthorized

    limit = ctx.settings.login_failures_per_account

    def guess(n: int) -> str:
        try:
            accounts.sign_in(ctx, "member", f"guess{n}", address=f"10.0.0.{n}")
        except TooManyAttempts:
            return "limited"
        except Unauthorized:
            return "checked"
        return "in"

    with ThreadPoolExecutor(max_workers=20) as pool:
        outcomes = list(pool.map(guess, range(20)))
    assert outcomes.count("checked") == limit and outcomes.count("limited") == 20 - limit
    with ctx.db.read() as db:
        failed = db.scalars(select(AuditEvent).where(AuditEvent.action == "auth.login_failed"))
        assert len(list(failed)) == limit


def test_failed_sign_ins_are_limited_per_address(
    client: TestClient, ctx: Context, users: object
) -> None:
    ctx.settings.login_failures_per_address = 3
    for i in range(3):
        client.post(f"{API}/auth/login", json={"login": f"nobody{i}", "password": "x"})
    r = client.post(f"{API}/auth/login", json={"login": "owner", "password": PASSWORD})
    assert r.status_code == 429


def test_a_success_resets_the_account_count(
    client: TestClient, ctx: Context, users: object
) -> None:
    limit = ctx.settings.login_failures_per_account
    for _ in range(limit - 1):
        client.post(f"{API}/auth/login", json={"login": "member", "password": "guess"})
    sign_in(client, "member")
    for _ in range(limit - 1):
        client.post(f"{API}/auth/login", json={"login": "member", "password": "guess"})
    sign_in(client, "member")


def test_a_token_cannot_mint_tokens(client: TestClient, users: object) -> None:
    token = client.post(f"{API}/auth/tokens", json={"name": "t"}, auth=("member", PASSWORD)).json()[
        "token"
    ]
    r = client.post(f"{API}/auth/tokens", json={"name": "u"}, headers=bearer(token))
    assert r.status_code == 403
    assert len(client.get(f"{API}/auth/tokens", headers=bearer(token)).json()) == 1


def test_a_new_password_lifts_the_limit(client: TestClient, ctx: Context, users: object) -> None:
    for _ in range(ctx.settings.login_failures_per_account):
        client.post(f"{API}/auth/login", json={"login": "member", "password": "guess"})
    assert client.get(f"{API}/auth/me", auth=("member", PASSWORD)).status_code == 429
    r = client.patch(
        f"{API}/users/member", json={"password": "set-by-the-admin"}, auth=("admin", PASSWORD)
    )
    assert r.status_code == 200
    assert client.get(f"{API}/auth/me", auth=("member", "set-by-the-admin")).status_code == 200


def test_guesses_at_the_current_password_count_as_failed_sign_ins(
    client: TestClient, ctx: Context, users: object
) -> None:
    token = client.post(f"{API}/auth/tokens", json={"name": "t"}, auth=("member", PASSWORD)).json()[
        "token"
    ]
    limit = ctx.settings.login_failures_per_account
    guess = {"current_password": "guess", "new_password": "a-new-long-password"}
    for _ in range(limit):
        r = client.post(f"{API}/auth/password", json=guess, headers=bearer(token))
        assert r.status_code == 422 and r.json()["error"]["field"] == "current_password"
    with ctx.db.read() as db:
        failed = db.scalars(
            select(AuditEvent).where(AuditEvent.action == "auth.login_failed")
        ).all()
    assert len(failed) == limit
    assert {(e.actor_login, e.detail["method"]) for e in failed} == {("member", "password_change")}
    # Now the limit holds here, and at sign-in, even with the right password.
    right = {"current_password": PASSWORD, "new_password": "a-new-long-password"}
    r = client.post(f"{API}/auth/password", json=right, headers=bearer(token))
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    r = client.post(f"{API}/auth/login", json={"login": "member", "password": PASSWORD})
    assert r.status_code == 429
