"""The pages where people set who gets what: the Manage tab's recipients, the visitor's
own Notifications page, and the failed deliveries for site administrators."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from scandepot.access.actors import SYSTEM
from scandepot.access.users import actor_for
from scandepot.catalog.access import User
from scandepot.catalog.paging import PageRequest
from scandepot.context import Context
from scandepot.notify import choices, failures, subscriptions
from tests.notify.test_failures import refused_and_failed
from tests.web.test_pages import _signed_in


def test_an_owner_adds_changes_and_removes_recipients_on_the_manage_tab(
    ctx: Context, client: TestClient, make_project: Callable[..., str]
) -> None:
    project = make_project("private")
    base = f"/projects/{project}"
    token = _signed_in(client, "owner")
    page = client.get(base + "?tab=manage").text
    assert 'id="notifications"' in page and "No address gets this project" in page
    assert 'name="notification_recipients"' not in page  # the recipients are set here now
    r = client.post(
        base + "/notifications/recipients",
        data={"address": "pi@example.org", "topic": ["archived", "process"], "csrf_token": token},
    )
    assert r.status_code == 200 and "pi@example.org gets archived, process messages." in r.text
    assert "pi@example.org" in r.text and 'value="process" checked' in r.text
    (added,) = subscriptions.list_recipients(ctx, SYSTEM, project)
    assert added.topics == ["archived", "process"]
    r = client.post(
        base + f"/notifications/recipients/{added.id}",
        data={"topic": "attention", "csrf_token": token},
    )
    assert "pi@example.org gets attention messages." in r.text
    r = client.post(
        base + "/notifications/recipients",
        data={"address": "not-an-email", "topic": "archived", "csrf_token": token},
    )
    assert r.status_code == 200 and "is not an email address" in r.text
    r = client.post(
        base + "/notifications/recipients",
        data={"address": "pi@example.org", "topic": "archived", "csrf_token": token},
    )
    assert "is a recipient of project" in r.text
    r = client.post(
        base + f"/notifications/recipients/{added.id}", data={"csrf_token": token}
    )  # no topic ticked
    assert "Choose at least one topic" in r.text
    assert subscriptions.list_recipients(ctx, SYSTEM, project)[0].topics == ["attention"]
    r = client.post(
        base + f"/notifications/recipients/{added.id}/remove", data={"csrf_token": token}
    )
    assert "The recipient is removed" in r.text
    assert subscriptions.list_recipients(ctx, SYSTEM, project) == []


def test_a_form_without_its_csrf_token_changes_nothing(
    ctx: Context, client: TestClient, make_project: Callable[..., str]
) -> None:
    project = make_project("private")
    _signed_in(client, "owner")
    r = client.post(
        f"/projects/{project}/notifications/recipients",
        data={"address": "pi@example.org", "topic": "archived"},
    )
    assert r.status_code == 403
    assert subscriptions.list_recipients(ctx, SYSTEM, project) == []


def test_a_member_sees_no_manage_tab_and_may_not_add(
    ctx: Context, client: TestClient, make_project: Callable[..., str]
) -> None:
    project = make_project("private")
    token = _signed_in(client, "member")
    assert client.get(f"/projects/{project}?tab=manage").status_code == 403
    r = client.post(
        f"/projects/{project}/notifications/recipients",
        data={"address": "pi@example.org", "topic": "archived", "csrf_token": token},
    )
    assert r.status_code == 403
    assert subscriptions.list_recipients(ctx, SYSTEM, project) == []


def test_a_user_chooses_their_own_messages(
    ctx: Context, client: TestClient, users: dict[str, User], make_project: Callable[..., str]
) -> None:
    project = make_project("private")
    token = _signed_in(client, "member")
    page = client.get("/tokens").text
    assert 'href="/notifications"' in page
    page = client.get("/notifications").text
    assert "member@example.org" in page and project in page and "stuck" not in page.lower()
    assert "default: sessions you uploaded" in page
    # For all projects: the form shows three topics, one left as it is (not chosen).
    r = client.post(
        "/notifications",
        data={
            "shown": ["archived", "process", "attention"],
            "t_process": "on",
            "t_attention": "off",
            "csrf_token": token,
        },
    )
    assert "Your choices for all projects are saved." in r.text
    member = actor_for(users["member"])
    assert choices.get(ctx, member).chosen == {
        "archived": None,
        "process": True,
        "attention": False,
    }
    r = client.post(
        "/notifications",
        data={"project": project, "shown": ["process"], "t_process": "off", "csrf_token": token},
    )
    assert f"Your choices in {project} are saved." in r.text
    assert "Use my choices for all projects" in r.text
    assert choices.get(ctx, member).projects[0].topics["process"] is False
    r = client.post(f"/notifications/projects/{project}/reset", data={"csrf_token": token})
    assert "your choices for all projects apply again" in r.text
    assert choices.get(ctx, member).projects[0].own["process"] is None
    r = client.post(
        "/notifications", data={"shown": ["stuck"], "t_stuck": "off", "csrf_token": token}
    )
    assert "Unknown topic &#39;stuck&#39;" in r.text


def test_an_administrator_retries_and_dismisses_failed_deliveries(
    ctx: Context, client: TestClient, make_project: Callable[..., str]
) -> None:
    project = make_project("private")
    refused, failed, _ = refused_and_failed(ctx, project)
    token = _signed_in(client, "admin")
    assert 'href="/admin/notifications"' in client.get("/").text
    page = client.get("/admin/notifications").text
    assert "gone@example.org" in page and "550 no such user" in page and "slow@example.org" in page
    r = client.post(f"/admin/notifications/{refused}/retry", data={"csrf_token": token})
    assert f"Message {refused} to gone@example.org is sent again shortly." in r.text
    r = client.post(f"/admin/notifications/{failed}/dismiss", data={"csrf_token": token})
    assert "is put aside" in r.text and "Nothing refused or failed." in r.text
    r = client.post(f"/admin/notifications/{failed}/dismiss", data={"csrf_token": token})
    assert "only refused and failed ones" in r.text
    assert failures.list_failures(ctx, SYSTEM, PageRequest(limit=10)).total == 0
    assert "slow@example.org" in client.get("/admin/notifications?status=dismissed").text
    _signed_in(client, "owner")
    assert client.get("/admin/notifications").status_code == 403
