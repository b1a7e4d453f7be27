"""The retention page of the site administrators: the plan, a schedule added from the
form (and one refused, naming what is wrong), a hold and its release, a run."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient

from scandepot.access.actors import SYSTEM
from scandepot.context import Context
from scandepot.db.base import utcnow
from scandepot.retention import holds, schedules
from tests.retention.world import audited, temporary
from tests.web.test_pages import _signed_in


def test_the_page_adds_a_schedule_holds_an_item_and_runs(
    ctx: Context, client: TestClient, users: object
) -> None:
    old = temporary(ctx, utcnow() - dt.timedelta(days=3), size=2048)
    token = _signed_in(client, "admin")
    page = client.get("/admin/retention").text
    assert "Nothing is planned for deletion." in page and "No schedules" in page
    r = client.post(
        "/admin/retention/schedules",
        data={"area": "temporary", "weekdays": "MON=WED, Funday=THU", "csrf_token": token},
    )
    assert "&#39;Funday&#39; is no day of the week" in r.text
    assert schedules.list_schedules(ctx, SYSTEM) == []
    r = client.post(
        "/admin/retention/schedules",
        data={
            "area": "temporary",
            "age": "1",
            "unit": "days",
            "warn_hours": "30",
            "csrf_token": token,
        },
    )
    assert "must be shorter than the age (24 hours)" in r.text
    r = client.post(
        "/admin/retention/schedules",
        data={"area": "temporary", "age": "2", "unit": "days", "csrf_token": token},
    )
    assert "after 2 days" in r.text and old.name in r.text  # the plan lists it
    r = client.post(
        "/admin/retention/holds",
        data={"area": "temporary", "key": old.name, "reason": "a look first", "csrf_token": token},
    )
    assert "is held." in r.text and "held by admin: a look first" in r.text
    r = client.post("/admin/retention/run", data={"csrf_token": token})
    assert "deleted 0, held 1" in r.text and old.exists()
    (hold,) = holds.list_holds(ctx, SYSTEM)
    client.post(f"/admin/retention/holds/{hold.id}/release", data={"csrf_token": token})
    r = client.post("/admin/retention/run", data={"csrf_token": token})
    assert "deleted 1" in r.text and not old.exists()
    assert [e.actor_login for e in audited(ctx)] == ["admin"]


def test_the_page_is_for_site_administrators(
    ctx: Context, client: TestClient, users: object
) -> None:
    _signed_in(client, "owner")
    assert client.get("/admin/retention").status_code == 403
