"""/api/v1/admin/retention over HTTP: bad input is a 422 naming the field, schedules and
holds round-trip, the plan and a run answer in JSON."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi.testclient import TestClient

from scandepot.context import Context
from scandepot.db.base import utcnow
from tests.retention.world import audited, temporary

RT = "/api/v1/admin/retention"


def test_schedules_holds_plan_and_run(
    ctx: Context, client: TestClient, actors: dict[str, Any]
) -> None:
    admin = actors["admin"]
    old = temporary(ctx, utcnow() - dt.timedelta(hours=30), size=9)
    bad = {"area": "temporary", "weekdays": {"MON": "Someday"}}
    r = client.post(RT + "/schedules", json=bad, auth=admin)
    assert r.status_code == 422 and r.json()["error"]["field"] == "weekdays"
    r = client.post(RT + "/schedules", json={"area": "temporary", "age_hours": -2}, auth=admin)
    assert r.status_code == 422 and r.json()["error"]["field"] == "age_hours"
    made = client.post(
        RT + "/schedules", json={"area": "temporary", "age_days": 1, "warn_hours": 2}, auth=admin
    )
    assert made.status_code == 201 and made.json()["rule"] == "after 1 days"
    sid = made.json()["id"]
    r = client.put(
        RT + f"/schedules/{sid}", json={"area": "temporary", "age_hours": 20}, auth=admin
    )
    assert r.json()["age_hours"] == 20 and r.json()["warn_hours"] == 0
    (entry,) = client.get(RT + "/plan", auth=admin).json()
    assert (entry["area"], entry["key"], entry["size"], entry["held"]) == (
        "temporary",
        old.name,
        9,
        False,
    )
    held = client.post(RT + "/holds", json={"area": "temporary", "key": old.name}, auth=admin)
    assert held.status_code == 201
    again = client.post(RT + "/holds", json={"area": "temporary", "key": old.name}, auth=admin)
    assert again.status_code == 409
    assert client.post(RT + "/run", auth=admin).json()["held"] == 1
    hid = held.json()["id"]
    assert client.delete(RT + f"/holds/{hid}", auth=admin).status_code == 204
    done = client.post(RT + "/run", auth=admin).json()
    assert (done["deleted"], done["freed"], done["busy"]) == (1, 9, False)
    assert not old.exists() and audited(ctx)[0].actor_login == "admin"
    assert client.delete(RT + f"/schedules/{sid}", auth=admin).status_code == 204
    assert client.get(RT + "/schedules", auth=admin).json() == []
