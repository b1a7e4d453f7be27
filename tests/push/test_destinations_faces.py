"""Push destinations through the API, the CLI and the administration page: site
administrators only; bad input named; the secret goes in and never comes out, in any
answer, page or audit entry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from scandepot.access.actors import SYSTEM
from scandepot.catalog.access import AuditEvent
from scandepot.cli.main import app as cli
from scandepot.context import Context
from scandepot.push import destinations
from tests.helpers import ADMIN
from tests.orthanc import free_port
from tests.web.test_pages import _signed_in

API = "/api/v1/push/destinations"
SECRET = "s3cret-token-not-to-be-seen"
runner = CliRunner()


def audit_text(ctx: Context) -> str:
    with ctx.db.read() as db:
        return " ".join(str(e.detail) for e in db.scalars(select(AuditEvent)))


def test_the_api(
    ctx: Context, client: TestClient, actors: dict[str, Any], make_project: Callable[..., str]
) -> None:
    project = make_project()
    body = {
        "name": "eucaim",
        "kind": "dicomweb",
        "url": f"http://127.0.0.1:{free_port()}/dicom-web",
        "auth": "bearer",
        "secret": SECRET,
        "projects": [project],
    }
    assert client.post(API, json=body, auth=actors["owner"]).status_code == 403
    assert client.get(API).status_code == 401
    r = client.post(API, json=body, auth=ADMIN)
    assert r.status_code == 201, r.text
    assert r.json()["secret_set"] is True and "secret" not in r.json()
    answers = [
        r.text,
        client.get(API, auth=ADMIN).text,
        client.get(f"{API}/eucaim", auth=ADMIN).text,
    ]
    r = client.patch(f"{API}/eucaim", json={"description": "node", "concurrency": 8}, auth=ADMIN)
    assert r.status_code == 200 and r.json()["concurrency"] == 8
    answers.append(r.text)
    assert all(SECRET not in text for text in answers)
    assert SECRET not in audit_text(ctx)

    r = client.patch(f"{API}/eucaim", json={"url": "ftp://node.example/"}, auth=ADMIN)
    assert r.status_code == 422 and "http://" in r.text
    r = client.post(API, json={**body, "name": "x", "auth": "digest"}, auth=ADMIN)
    assert r.status_code == 422
    r = client.post(f"{API}/eucaim/check", auth=ADMIN)
    assert r.status_code == 200 and r.json()["ok"] is False
    assert "refused" in r.json()["reason"].lower()

    r = client.delete(f"{API}/eucaim/projects/{project}", auth=ADMIN)
    assert r.status_code == 200 and r.json()["projects"] == []
    r = client.put(f"{API}/eucaim/projects/{project}", auth=ADMIN)
    assert r.status_code == 200 and r.json()["projects"] == [project]
    assert client.delete(f"{API}/eucaim", auth=ADMIN).status_code == 204
    assert client.get(f"{API}/eucaim", auth=ADMIN).status_code == 404


def run(ctx: Context, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    env = {"SCANDEPOT_DATA_DIR": str(ctx.settings.data_dir)}
    if ctx.settings.database_url:
        env["SCANDEPOT_DATABASE_URL"] = ctx.settings.database_url
    result = runner.invoke(cli, ["push-destination", *args], env=env, input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_the_cli(ctx: Context, make_project: Callable[..., str]) -> None:
    project = make_project()
    port = free_port()
    code, out, err = run(
        ctx,
        "add", "ref", "--kind", "dimse", "--ae-title", "REFERENCE", "--host", "127.0.0.1",
        "--port", str(port), "--project", project,
    )  # fmt: skip
    assert code == 0, err
    xnat = ("--kind", "xnat", "--url", "https://xnat.example/", "--remote-project", "EUCAIM")
    login = ("--auth", "basic", "--username", "pusher", "--secret-stdin")
    code, out, err = run(ctx, "add", "xnat", *xnat, *login, stdin=SECRET + "\n")
    assert code == 0, err
    code, out, _ = run(ctx, "list")
    assert out.splitlines() == [
        f"ref\tdimse\tREFERENCE@127.0.0.1:{port}\t{project}\tenabled",
        "xnat\txnat\thttps://xnat.example\t-\tenabled",
    ]
    code, out, _ = run(ctx, "show", "xnat")
    assert code == 0 and "secret: set" in out and SECRET not in out
    assert "remote project: EUCAIM" in out
    code, _, err = run(ctx, "check", "ref")
    assert code == 1 and "Connection refused" in err
    code, _, err = run(ctx, "add", "bad", "--kind", "dicomweb", "--url", "file:///etc/passwd")
    assert code == 1 and "http:// or https://" in err
    code, _, err = run(ctx, "change", "xnat", "--concurrency", "99")
    assert code == 1 and "concurrency" in err
    assert run(ctx, "change", "xnat", "--clear-secret", "--secret-env", "XNAT_PW")[0] == 0
    assert "secret from: $XNAT_PW" in run(ctx, "show", "xnat")[1]
    assert run(ctx, "disallow", "ref", project)[0] == 0
    assert run(ctx, "allow", "xnat", project)[0] == 0
    assert run(ctx, "remove", "ref")[0] == 0
    assert [v.name for v in destinations.list_destinations(ctx, SYSTEM)] == ["xnat"]
    assert SECRET not in audit_text(ctx)


def test_the_administration_page(
    ctx: Context, client: TestClient, make_project: Callable[..., str]
) -> None:
    project = make_project()
    token = _signed_in(client, "admin")
    assert client.get("/admin/push-destinations").status_code == 200
    form = {
        "csrf_token": token, "name": "ref", "kind": "dicomweb",
        "url": "https://node.example/dicom-web", "auth": "basic", "username": "u",
        "secret": SECRET, "projects": project, "verify_tls": "on", "external": "on",
        "enabled": "on", "concurrency": "6",
    }  # fmt: skip
    r = client.post("/admin/push-destinations", data=form, follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/admin/push-destinations/ref")
    page = client.get("/admin/push-destinations/ref").text
    assert "A secret is set" in page and SECRET not in page
    assert 'name="secret" type="password"' in page and project in page
    listing = client.get("/admin/push-destinations").text
    assert "https://node.example/dicom-web" in listing and SECRET not in listing
    # Saved with the secret left empty: the stored one stays.
    change = {**form, "description": "EUCAIM", "secret": "", "concurrency": "2"}
    del change["name"], change["kind"], change["projects"]
    r = client.post("/admin/push-destinations/ref", data=change, follow_redirects=False)
    assert r.status_code == 303
    view = destinations.show(ctx, SYSTEM, "ref")
    assert view.secret_set and view.description == "EUCAIM" and view.concurrency == 2
    # A mistake comes back to the form, named.
    bad = {**change, "url": "javascript:alert(1)"}
    r = client.post("/admin/push-destinations/ref", data=bad, follow_redirects=True)
    assert "must start with http:// or https://" in r.text
    assert destinations.show(ctx, SYSTEM, "ref").url == "https://node.example/dicom-web"
    r = client.post(
        "/admin/push-destinations/ref/check", data={"csrf_token": token}, follow_redirects=True
    )
    assert "node.example" in r.text
    r = client.post(
        "/admin/push-destinations/ref/remove", data={"csrf_token": token}, follow_redirects=False
    )
    assert r.status_code == 303
    assert destinations.list_destinations(ctx, SYSTEM) == []
