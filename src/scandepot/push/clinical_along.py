"""Clinical records carried along with a push: once the images are verified, each pushed
subject's record (and its pushed sessions' records), de-identified by the push's script
and the project's keys (:func:`scandepot.clinical.outbound.deidentified_records`), goes
as JSON, keyed by the pseudonymous Patient ID its images carry:

- ``clinical == "rest"``: ``PUT {clinical_url}/{patient_id}``;
- ``clinical == "xnat"`` (an XNAT destination): a file ``clinical.json`` in the resource
  ``CLINICAL`` of the far subject the images were filed under (whose label is that
  Patient ID), by XNAT's file upload
  ``PUT {url}/data/projects/{remote_project}/subjects/{subject}/resources/CLINICAL/files/
  clinical.json?inbody=true`` (the resource is made with its first file); when the file is
  there already (409, a push sent again) it is put again with ``overwrite=true``, which an
  XNAT allows whoever may edit the subject (a scandepot: the project's owners).

A PUT says what the far side should hold, so sending it again (a retry, a resumed push)
changes nothing there. A temporary failure (unreachable, timed out, 5xx, 429) is tried
again with the push's back-off, up to the destination's ``max_attempts``; any other
answer fails that record with the peer's reason. The report says how many went and which
failed; a record that failed fails the push.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
from sqlalchemy import select

from scandepot.catalog.archive import Session
from scandepot.catalog.push import InstanceStatus, Push, PushDestination, PushInstance
from scandepot.clinical.outbound import OutboundRecord, deidentified_records
from scandepot.context import Context
from scandepot.export.deidentified import Deidentifier
from scandepot.pipelines.jobrun import JobRun, PipelineError
from scandepot.push import http_peer, outgoing, secrets, tries
from scandepot.push.deliver import FAR

REST = "rest"
XNAT = "xnat"
XNAT_RESOURCE = "CLINICAL"
XNAT_FILE = "clinical.json"
JSON_TYPE = "application/json"


def _peer(ctx: Context, destination: PushDestination, url: str) -> http_peer.HttpPeer:
    """The clinical endpoint with the destination's credentials and TLS settings."""
    return http_peer.HttpPeer(
        url=url,
        auth=destination.auth,
        username=destination.username,
        secret=secrets.resolve(
            ctx, destination.secret, destination.secret_env, name=destination.name
        ),
        verify_tls=destination.verify_tls,
        ca_bundle=destination.ca_bundle,
        client_cert=destination.client_cert,
        client_key=destination.client_key,
        timeout_s=ctx.settings.push_timeout_s,
        connections=1,
    )


def _records(ctx: Context, push_id: int, deid: Deidentifier) -> list[OutboundRecord]:
    with ctx.db.write() as db:  # the project's keys exist already: the images used them
        push = db.get(Push, push_id)
        assert push is not None and push.project_id is not None
        session_ids: set[int] = set(
            i
            for i in db.scalars(
                select(PushInstance.session_id)
                .where(
                    PushInstance.push_id == push_id,
                    PushInstance.session_id.is_not(None),
                    # Only sessions that arrived: a record goes with images, never alone.
                    PushInstance.status == InstanceStatus.VERIFIED.value,
                )
                .distinct()
            )
            if i is not None
        )
        subject_ids = list(
            db.scalars(select(Session.subject_id).where(Session.id.in_(session_ids)).distinct())
        )
        return deidentified_records(
            db,
            push.project_id,
            subject_ids,
            script=deid.in_force.script,
            keys=deid.keys,
            session_ids=session_ids,
        )


@dataclass(frozen=True, slots=True)
class Put:
    """One record's PUT: where, with what query, and the body."""

    url: str
    content: bytes
    params: dict[str, str] = field(default_factory=dict)
    # The query to PUT again with when the far side answers 409 (the file is there).
    replace: dict[str, str] | None = None


def _put(client: httpx.Client, put: Put) -> tuple[str | None, bool]:
    """Send one record once: (None, _) once the far side took it; else (why not, whether
    trying again may help)."""
    params = put.params
    try:
        answer = client.put(
            put.url, params=params, content=put.content, headers={"Content-Type": JSON_TYPE}
        )
        if answer.status_code == 409 and put.replace is not None and params != put.replace:
            answer = client.put(
                put.url,
                params=put.replace,
                content=put.content,
                headers={"Content-Type": JSON_TYPE},
            )
    except httpx.TransportError as exc:
        return http_peer.reason_of(exc), True
    if answer.is_success:
        return None, False
    return http_peer.status_reason(answer), http_peer.is_temporary(answer.status_code)


def _send(
    ctx: Context,
    job: JobRun,
    push_id: int,
    client: httpx.Client,
    puts: dict[int, Put],
    *,
    max_attempts: int,
    retry_s: float,
) -> dict[int, str]:
    """Send the records in rounds, each record once a round, until none is left to try
    again; the tries in a row are counted on the push (tries.py), and a long wait
    between rounds gives the worker back (the records are put again then: a PUT changes
    nothing on the far side the second time). Why each record not taken was not."""
    failed: dict[int, str] = {}
    todo = dict(puts)
    while todo:
        again: dict[int, Put] = {}
        why = ""
        for index, put in todo.items():
            job.check()
            reason, temporary = _put(client, put)
            if reason is None:
                continue
            if temporary:
                again[index], why = put, reason
            else:
                failed[index] = reason
        todo = again
        if not todo:
            break
        try:
            tries.again(
                ctx,
                job,
                push_id,
                tries.CLINICAL,
                max_attempts=max_attempts,
                retry_s=retry_s,
                failed=f"{len(todo)} clinical record(s) not taken",
                reason=why,
            )
        except PipelineError:  # out of tries: those left fail, the others stand
            failed.update({i: f"gave up after {max_attempts} attempt(s): {why}" for i in todo})
            break
    tries.count(ctx, push_id, tries.CLINICAL, 0)
    return failed


def _far_subjects(ctx: Context, push_id: int) -> set[str]:
    """The subject labels the push's sessions were filed under on the far side."""
    with ctx.db.read() as db:
        push = db.get(Push, push_id)
        far = push.report.get(FAR, {}) if push is not None else {}
    return {labels[0] for labels in far.values() if labels}


def _puts(
    ctx: Context, push_id: int, destination: PushDestination, found: list[OutboundRecord]
) -> tuple[str, list[Put | str]]:
    """The endpoint's root, and for each record its PUT, or why it has none."""
    body = [json.dumps(r.as_json(), ensure_ascii=False).encode() for r in found]
    if destination.clinical == REST:
        root = (destination.clinical_url or "").rstrip("/")
        return root, [
            Put(f"{root}/{quote(r.patient_id, safe='')}", b)
            for r, b in zip(found, body, strict=True)
        ]
    root = (destination.url or "").rstrip("/")
    project = quote(destination.remote_project or "", safe="")
    subjects = _far_subjects(ctx, push_id)
    params = {"inbody": "true", "format": "JSON", "content": "clinical"}
    replace = {**params, "overwrite": "true"}
    out: list[Put | str] = []
    for record, content in zip(found, body, strict=True):
        label = outgoing.xnat_label(record.patient_id)  # as the images were filed
        if label not in subjects:
            out.append("no session of this subject was filed on the far side")
            continue
        url = (
            f"{root}/data/projects/{project}/subjects/{quote(label, safe='')}"
            f"/resources/{XNAT_RESOURCE}/files/{XNAT_FILE}"
        )
        out.append(Put(url, content, params, replace))
    return root, out


def carry(
    ctx: Context,
    job: JobRun,
    push_id: int,
    destination: PushDestination,
    deid: Deidentifier | None,
    *,
    retry_s: float,
) -> dict[str, Any]:
    """Send the pushed subjects' records (see the module docstring); what the report
    keeps: ``subjects``, ``sent``, ``failed`` [{patient_id, reason}]; {} when the
    destination takes none."""
    if destination.clinical not in (REST, XNAT):
        return {}
    if destination.clinical == REST and not destination.clinical_url:
        return {}
    if deid is None:
        return {"subjects": 0, "sent": 0, "failed": [], "note": "not sent: no script"}
    found = _records(ctx, push_id, deid)
    root, puts = _puts(ctx, push_id, destination, found)
    with http_peer.client(_peer(ctx, destination, root)) as client:
        lost = _send(
            ctx,
            job,
            push_id,
            client,
            {i: put for i, put in enumerate(puts) if isinstance(put, Put)},
            max_attempts=destination.max_attempts,
            retry_s=retry_s,
        )
    lost.update({i: put for i, put in enumerate(puts) if isinstance(put, str)})
    failed = [
        {"patient_id": found[i].patient_id, "reason": why[:1024]} for i, why in sorted(lost.items())
    ]
    sent = len(found) - len(failed)
    job.log(f"clinical records: {sent} of {len(found)} sent")
    return {"subjects": len(found), "sent": sent, "failed": failed}
