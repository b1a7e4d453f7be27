"""`/api/v1/transfers`: the dry run, a start refused by its check, a start followed to its
report, a move, a cancel, and who may do what."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from scandepot.catalog.archive import Session
from scandepot.catalog.pipelines import Job, JobStatus
from scandepot.catalog.transfers import Transfer, TransferItem
from scandepot.context import Context
from tests.helpers import API
from tests.transfers.conftest import Archive, run_transfers

T = f"{API}/transfers"


def _body(archive: Archive, **fields: Any) -> dict[str, Any]:
    return {
        "kind": "copy",
        "source": archive.source,
        "destination": archive.dest,
        "sessions": ["E1"],
        **fields,
    }


def _rows(ctx: Context) -> tuple[int, int, int, int]:
    with ctx.db.read() as db:
        return (
            db.scalar(select(func.count(Transfer.id))) or 0,
            db.scalar(select(func.count(TransferItem.id))) or 0,
            db.scalar(select(func.count(Job.id))) or 0,
            db.scalar(select(func.count(Session.id))) or 0,
        )


def test_a_dry_run_answers_with_the_plan_and_writes_nothing(ctx: Context, archive: Archive) -> None:
    archive.session("S1", "E1")
    before = _rows(ctx)
    body = _body(
        archive,
        dry_run=True,
        subject_map={"S1": "SUB-A"},
        session_map={"E1": "SUB-A_E1"},
        scans=["1"],
    )
    r = archive.client.post(T, json=body, auth=archive.actors["owner"])
    assert r.status_code == 200, r.text
    plan = r.json()
    assert plan["ok"] is True and plan["problems"] == []
    assert plan["source"] == archive.source and plan["destination"] == archive.dest
    [planned] = plan["sessions"]
    assert (planned["dest_subject"], planned["dest_session"]) == ("SUB-A", "SUB-A_E1")
    assert [s["label"] for s in planned["scans"]] == ["1"]
    assert plan["files"] == 3 and planned["new_subject"] is True
    assert _rows(ctx) == before


def test_a_refused_start_lists_every_problem_with_the_plan_and_writes_nothing(
    ctx: Context, archive: Archive
) -> None:
    archive.session("S1", "E1")
    archive.session("S2", "E2")
    archive.session("S1", "E1", project=archive.dest)  # E1 is taken there
    before = _rows(ctx)
    body = _body(archive, sessions=["E1", "E2", "NOPE"], kind="move")
    r = archive.client.post(T, json=body, auth=archive.actors["member"])
    assert r.status_code == 409, r.text
    error, plan = r.json()["error"], r.json()["plan"]
    codes = sorted(d["code"] for d in error["details"])
    assert codes == ["access", "label_clash", "not_found"]
    assert "3 problem(s)" in error["message"]
    assert plan["ok"] is False and len(plan["problems"]) == 3
    assert [p["source_session"] for p in plan["sessions"]] == ["E1", "E2"]
    assert _rows(ctx) == before
    assert "location" not in r.headers


def test_a_copy_is_started_followed_and_reported(ctx: Context, archive: Archive) -> None:
    archive.session("S1", "E1")
    owner = archive.actors["owner"]
    r = archive.client.post(T, json=_body(archive, session_rule="{label}_copy"), auth=owner)
    assert r.status_code == 202, r.text
    started = r.json()
    assert r.headers["location"] == started["url"] == f"{T}/{started['id']}"
    assert started["status"] == "queued" and started["finished"] is False
    assert (started["files_done"], started["files_total"]) == (0, 6)
    assert [i["destination"] for i in started["items"]] == ["S1/E1_copy"]

    assert run_transfers(ctx) == [JobStatus.SUCCEEDED]
    done = archive.client.get(started["url"], auth=owner).json()
    assert done["status"] == "succeeded" and done["verified"] is True, done
    assert (done["files_done"], done["files_total"]) == (6, 6)
    assert "verified" in done["message"]
    [item] = done["items"]
    assert item["status"] == "verified" and item["files"] == 6
    assert item["compared"]["ok"] is True and item["compared"]["by"] == ["catalog"]

    report = archive.client.get(started["report_url"], auth=owner).json()
    assert report["check"]["ok"] is True
    assert report["check"]["sessions"][0]["dest_session"] == "E1_copy"
    assert report["request"]["session_rule"] == "{label}_copy"
    assert report["items"][0]["compared"]["files"] == 6
    assert sorted(report["items"][0]["copied"]) == ["scan 1:DICOM", "scan 2:DICOM"]
    assert archive.get("sessions/E1_copy").status_code == 200
    assert archive.get("sessions/E1", project=archive.source).status_code == 200

    listed = archive.client.get(T, params={"project": archive.dest}, auth=owner).json()
    assert [t["id"] for t in listed["items"]] == [started["id"]] and listed["total"] == 1
    other = archive.client.get(T, params={"project": "ELSEWHERE"}, auth=owner).json()
    assert other["items"] == []


def test_a_move_verifies_from_the_bytes_and_reports_what_it_deleted(
    ctx: Context, archive: Archive
) -> None:
    archive.session("S1", "E1")
    archive.put("sessions/E1/resources/QA/files/notes.txt", b"kept in the source")
    owner = archive.actors["owner"]
    r = archive.client.post(T, json=_body(archive, kind="move"), auth=owner)
    assert r.status_code == 202, r.text
    assert run_transfers(ctx) == [JobStatus.SUCCEEDED]
    report = archive.client.get(r.json()["report_url"], auth=owner).json()
    assert report["verified"] is True
    [item] = report["items"]
    assert item["status"] == "deleted"
    assert item["compared"]["by"] == ["catalog", "bytes"] and item["compared"]["ok"]
    assert item["kept_in_source"] == ["session resource QA"]
    assert archive.get("sessions/E1").status_code == 200
    left = archive.get("sessions/E1/scans", project=archive.source)
    assert left.status_code == 200 and left.json()["items"] == []


def test_a_queued_transfer_is_cancelled_and_never_runs(ctx: Context, archive: Archive) -> None:
    archive.session("S1", "E1")
    owner = archive.actors["owner"]
    started = archive.client.post(T, json=_body(archive), auth=owner).json()
    r = archive.client.post(f"{started['url']}/cancel", auth=archive.actors["member"])
    assert r.status_code == 404  # a member of both may not cancel another's transfer
    r = archive.client.post(f"{started['url']}/cancel", auth=owner)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled" and "Cancelled by owner" in r.json()["message"]
    assert run_transfers(ctx) == []
    assert archive.get("sessions/E1").status_code == 404
    again = archive.client.post(f"{started['url']}/cancel", auth=owner)
    assert again.status_code == 409 and "already cancelled" in again.json()["error"]["message"]


def test_who_may_start_and_see_transfers(ctx: Context, archive: Archive) -> None:
    archive.session("S1", "E1")
    actors = archive.actors
    before = _rows(ctx)
    assert archive.client.post(T, json=_body(archive), auth=None).status_code == 401
    assert archive.client.get(T, auth=None).status_code == 401
    r = archive.client.post(T, json=_body(archive), auth=actors["outsider"])
    assert r.status_code == 404  # a private project it may not know of
    r = archive.client.post(T, json=_body(archive), auth=actors["collaborator"])
    assert r.status_code == 409
    assert [d["code"] for d in r.json()["error"]["details"]] == ["access"]
    assert _rows(ctx) == before

    started = archive.client.post(T, json=_body(archive), auth=actors["member"])
    assert started.status_code == 202, started.text
    url = started.json()["url"]
    assert archive.client.get(url, auth=None).status_code == 401
    assert archive.client.get(url, auth=actors["outsider"]).status_code == 404
    assert archive.client.get(f"{url}/report", auth=actors["outsider"]).status_code == 404
    assert archive.client.get(url, auth=actors["collaborator"]).status_code == 200
    assert archive.client.get(T, auth=actors["outsider"]).json()["items"] == []
    assert archive.client.get(f"{T}/999999", auth=actors["admin"]).status_code == 404


def test_a_request_that_breaks_a_rule_is_refused_as_invalid(archive: Archive) -> None:
    archive.session("S1", "E1")
    owner = archive.actors["owner"]
    r = archive.client.post(T, json=_body(archive, session_rule="{nope}"), auth=owner)
    assert r.status_code == 422 and r.json()["error"]["field"] == "session_rule"
    r = archive.client.post(T, json=_body(archive, sessions=[], dry_run=True), auth=owner)
    assert r.status_code == 422 and r.json()["error"]["field"] == "sessions"
    r = archive.client.post(T, json=_body(archive, surprise=1), auth=owner)
    assert r.status_code == 422
