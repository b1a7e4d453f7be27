"""The owners are told of each step by email (notify/'s machinery, a real SMTP server);
a version's manifest exports as JSON and as sha256sum lines whose SHA-256 is the
version's manifest_sha256."""

from __future__ import annotations

import hashlib
import json

from scandepot.datasets import lifecycle, manifest, owners, release
from scandepot.notify import sender
from tests.datasets.conftest import World
from tests.datasets.test_lifecycle import made
from tests.notify.helpers import use
from tests.notify.mailserver import MailServer


def test_the_owners_get_an_email_when_a_curator_sends_their_release_back(
    world: World, mail_server: MailServer
) -> None:
    ctx = world.ctx
    use(ctx, mail_server)
    ref = made(world)
    owners.add(ctx, world["member"], ref, "collaborator")
    release.release(ctx, world["member"], ref)
    lifecycle.send_back(ctx, world["curator"], ref, 1, "Add the consent forms.")
    sender.run_once(ctx)
    received = mail_server.wait_for(2)
    to = {a: r for r in received for a in r.recipients}
    assert set(to) == {"member@example.org", "collaborator@example.org"}
    text = to["member@example.org"].message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "sent back by a curator by curator" in text
    assert "Add the consent forms." in text and f"/datasets/{ref}/v1" in text
    assert "released" in text  # the release, told in the same message


def test_a_manifest_exports_as_json_and_as_sha256sum_lines(world: World) -> None:
    ctx = world.ctx
    ref = made(world)
    released = release.release(ctx, world["member"], ref)
    head = manifest.open_manifest(ctx, world["curator"], ref, 1, "sha256")
    lines = b"".join(manifest.body(ctx, head))
    assert hashlib.sha256(lines).hexdigest() == released.manifest_sha256
    assert lines.splitlines()[0].endswith(b"  A/S1/E1/scans/1/DICOM/0.dcm")
    head = manifest.open_manifest(ctx, world["member"], ref, 1, "json")
    assert head.filename.endswith("-v1.manifest.json")
    found = json.loads(b"".join(manifest.body(ctx, head)))
    assert found["dataset"] == ref and found["file_count"] == 7 == len(found["files"])
    assert found["manifest_sha256"] == released.manifest_sha256
    assert {"name", "size", "sha256", "md5"} == set(found["files"][0])
