"""Every route of the app, for every actor and every accessibility, with the exact status.

The routes come from the app's own route table: the API's from its OpenAPI document (plus
the HEAD twins of GET routes), the pages' from the routes left out of it. A route without
a row in ROUTES or PAGES fails the test. A refused request must change nothing.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import delete, func, select, update

from scandepot.access import roles, tokens
from scandepot.access.actors import SYSTEM
from scandepot.access.tokens import TokenCreate
from scandepot.api import xnat
from scandepot.api.xnat import owners as xnat_owners
from scandepot.app import create_app
from scandepot.archive import projects
from scandepot.catalog.access import ApiToken, ProjectRole, Role, User
from scandepot.catalog.archive import File, Project, Resource, Scan, Session, Subject
from scandepot.catalog.datasets import (
    Dataset,
    DatasetAccess,
    DatasetFile,
    DatasetMember,
    DatasetOwner,
    DatasetVersion,
)
from scandepot.catalog.deid import DeidKey, DeidScript, Pseudonym
from scandepot.catalog.dicom_nodes import DicomNode
from scandepot.catalog.drops import DropAccount, DropItem, DropRule, SshKey
from scandepot.catalog.notify import Choice, OutboxMessage, Recipient, Topic, Webhook
from scandepot.catalog.pipelines import Job, PipelineConfig
from scandepot.catalog.prearchive import Instance, StagedSession
from scandepot.catalog.push import Push, PushDestination
from scandepot.catalog.retention import RetentionHold, RetentionSchedule
from scandepot.catalog.transfers import Share, Transfer, TransferItem, TransferKind
from scandepot.context import Context
from scandepot.notify import outbox, webhooks
from scandepot.notify.webhooks import WebhookCreate
from scandepot.pipelines import config, jobs
from scandepot.pipelines.config import ConfigUpdate
from scandepot.pipelines.jobs import LaunchRequest
from scandepot.settings import Settings
from scandepot.transfers.requests import TransferRequest
from tests import saved_world
from tests.access import dataset_world
from tests.conftest import ACTOR_NAMES, PASSWORD
from tests.helpers import after_archive

OK = "ok"
ACCESSIBILITIES = ("private", "protected", "public")

# Expected outcome per level, for the actors in ACTOR_NAMES order:
#   anonymous, outsider, collaborator, member, owner, admin
SITE = {
    "public": (OK, OK, OK, OK, OK, OK),
    "signed_in": (401, OK, OK, OK, OK, OK),
    "site_admin": (401, 403, 403, 403, 403, OK),
    # Staged sessions, whatever the accessibility: below write they do not exist for you
    # (their numbers count from 1; a 403 or a project's name would say which exist).
    "staged_write": (401, 404, 404, OK, OK, OK),
    "staged_manage": (401, 404, 404, 403, OK, OK),
    # The public catalogue's version that is not published (the world dataset's draft):
    # not there for anyone, its owners and site administrators included (their pages
    # show drafts); anonymous visitors are asked to sign in, as for any missing object.
    "unpublished": (401, 404, 404, 404, 404, 404),
    **dataset_world.DATASET_LEVELS,
    # Datasets (docs/datasets.md), whatever the project's accessibility: the world's owner
    # owns them; the site's administrator is the only curator. A published one is seen by
    # everyone, but only its owners change it or read what is inside; one never published
    # does not exist for the others, and a curator's step is refused to its owner.
    "dataset_edit": (401, 403, 403, 403, OK, OK),
    "dataset_private": (401, 404, 404, 404, OK, OK),
    "dataset_curate": (401, 404, 404, 404, 403, OK),
    # The curators' queue, site-wide: the site's administrator is the only curator.
    "dataset_curate_queue": (401, 403, 403, 403, 403, OK),
}
PROJECT = {
    ("private", "see"): (401, 404, OK, OK, OK, OK),
    ("private", "read"): (401, 404, OK, OK, OK, OK),
    ("private", "role"): (401, 404, OK, OK, OK, OK),
    ("private", "write"): (401, 404, 403, OK, OK, OK),
    ("private", "manage"): (401, 404, 403, 403, OK, OK),
    ("protected", "see"): (401, OK, OK, OK, OK, OK),
    ("protected", "read"): (401, 403, OK, OK, OK, OK),
    ("protected", "role"): (401, 403, OK, OK, OK, OK),
    ("protected", "write"): (401, 403, 403, OK, OK, OK),
    ("protected", "manage"): (401, 403, 403, 403, OK, OK),
    ("public", "see"): (OK, OK, OK, OK, OK, OK),
    ("public", "read"): (OK, OK, OK, OK, OK, OK),
    # The people of a public project are not public: it takes a role to list them.
    ("public", "role"): (401, 403, OK, OK, OK, OK),
    ("public", "write"): (401, 403, 403, OK, OK, OK),
    ("public", "manage"): (401, 403, 403, 403, OK, OK),
    # The site-wide DICOMweb root names no project: what the caller may not read does not
    # exist there, for anonymous callers too (a 401 would say that it does).
    ("private", "site_read"): (404, 404, OK, OK, OK, OK),
    ("protected", "site_read"): (404, 404, OK, OK, OK, OK),
    ("public", "site_read"): (OK, OK, OK, OK, OK, OK),
    # An object named by its site-wide ID (XNAT's /data/subjects/{id}): where the caller
    # may not see the project, it does not exist (a guest is asked to sign in, as for an
    # ID that names nothing: archive/lookup.py); where it may see but not read, 403.
    ("private", "id_read"): (401, 404, OK, OK, OK, OK),
    ("protected", "id_read"): (401, 403, OK, OK, OK, OK),
    ("public", "id_read"): (OK, OK, OK, OK, OK, OK),
    # STOW-RS at the site-wide root: each instance goes where it routes, if the caller may
    # upload there; otherwise it fails alone (409 when none is stored), in the same words
    # whether the project exists or not. Anonymous callers store nothing anywhere: 401.
    ("private", "site_write"): (401, 409, 409, OK, OK, OK),
    ("protected", "site_write"): (401, 409, 409, OK, OK, OK),
    ("public", "site_write"): (401, 409, 409, OK, OK, OK),
}

P = "/api/v1/projects/{project}"
RT = "/api/v1/admin/retention"
SPARE_TEMPORARY = "0" * 32 + ".part"  # a temporary file of an upload, to hold
SHARE_TARGETS = ("Q", "R")  # shared into Q in the world; R to share into
SHARED = {"into": "Q"}
UNSHARED = {"into": "R"}
LEVEL_PREFIXES = {
    "project": P,
    "subject": P + "/subjects/{subject}",
    "session": P + "/sessions/{session}",
    "scan": P + "/sessions/{session}/scans/{scan}",
}


@dataclass(frozen=True)
class Row:
    level: str  # a key of SITE, or see/read/role/write/manage on the project
    success: int
    body: Callable[[str], Any] | None = None  # actor name -> JSON body
    content: bytes | None = None  # raw body
    query: str = ""
    params: dict[str, Any] = field(default_factory=dict)  # path values beyond the defaults
    headers: dict[str, str] = field(default_factory=dict)
    # The write adds an object named after the actor ("{actor}" in a value of params), so
    # the world needs no rebuilding before the next actor tries it.
    per_actor: bool = False


def _one_instance_zip() -> bytes:
    import io
    import zipfile

    from scandepot.dicom.synthetic import Series, Study, mr_instance, to_bytes

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("1.dcm", to_bytes(mr_instance(Study(), Series(), 1, rows=8, columns=8)))
    return out.getvalue()


def _label(prefix: str) -> Callable[[str], dict[str, str]]:
    return lambda actor: {"label": f"{prefix}_{actor}"}


XNAT_SIGN_IN = f"username=member&password={PASSWORD}".encode()
FORM = {"content-type": "application/x-www-form-urlencoded"}
XNAT_ROOTS = ("/data/", "/xapi/")
XNAT_ALIASES = tuple(f"{alias}/" for alias in xnat.ALIASES)
XNAT_SEARCH = (
    b'<xdat:bundle xmlns:xdat="http://nrg.wustl.edu/security">'
    b"<xdat:root_element_name>xnat:mrSessionData</xdat:root_element_name>"
    b"<xdat:search_where method='AND'><xdat:criteria><xdat:schema_field>"
    b"xnat:mrSessionData/PROJECT</xdat:schema_field><xdat:comparison_type>=</xdat:comparison_type>"
    b"<xdat:value>P</xdat:value></xdat:criteria></xdat:search_where></xdat:bundle>"
)
XNAT_STAGED = "/data/prearchive/projects/{project}/{timestamp}/{session}"
# An experiment's three paths: in its project, under its subject, by its site-wide ID.
XNAT_EXPERIMENTS = (
    "/data/projects/{project}/experiments/{experiment}",
    "/data/projects/{project}/subjects/{subject}/experiments/{experiment}",
    "/data/experiments/{experiment}",
)

# De-identification: the world's archive script is the basic profile (docs/deid-profile.md);
# a test tries it on the world's archived instance (its session is labelled by its Patient
# ID, W1).
DEID_PROFILE = '{"options": []}'
DEID_ARCHIVE = {"purpose": "archive"}
DEID_EXPORT = {"purpose": "export"}
DEID_TEST_TYPE = "multipart/form-data; boundary=matrix"
DEID_TEST_FORM = (
    b'--matrix\r\nContent-Disposition: form-data; name="purpose"\r\n\r\narchive\r\n'
    b'--matrix\r\nContent-Disposition: form-data; name="session"\r\n\r\nW1\r\n'
    b"--matrix--\r\n"
)

# Clinical data: one variable, at both levels.
CLINICAL_SCHEMA = {
    "type": "object",
    "properties": {"diagnosis": {"type": "string", "enum": ["AD", "MCI", "HC"]}},
}
CLINICAL_LEVEL = {"level": "subject"}

PD = "/api/v1/push/destinations/{name}"
WPD = "/admin/push-destinations/{name}"
SPARE_PD = {"name": "SPARE"}
SELECTION = {"name": "SEL"}
DS = "/api/v1/datasets"
D1 = {"dataset": "D1", "number": 1}
D3 = {"dataset": "D3", "number": 1}
NODE = "https://node.example/dw"
WORLD_SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIC2PnFcpnnSpVb4XuuV33FyKHZRl8QYZtoKQ8AbJ+ZZm"


ROUTES: dict[tuple[str, str], Row] = {
    ("GET", "/healthz"): Row("public", 200),
    ("GET", "/readyz"): Row("public", 200),
    # -- the public catalogue of datasets: published versions for everyone ----------------
    ("GET", "/api/v1/catalogue"): Row("public", 200, query="?q=world&modality=MR"),
    ("GET", "/api/v1/catalogue/feeds/dcat"): Row("public", 200, query="?page=1"),
    ("GET", "/api/v1/catalogue/{dataset}"): Row("public", 200),
    ("GET", "/api/v1/catalogue/{dataset}/versions/{number}"): Row("public", 200),
    ("GET", "/api/v1/catalogue/{dataset}/versions/{number}/schema-org"): Row("public", 200),
    # Version 2 of the world dataset is a draft.
    ("GET", "/api/v1/catalogue/{dataset}/versions/{number}/dcat"): Row(
        "unpublished", 200, params={"number": 2}
    ),
    ("HEAD", "/healthz"): Row("public", 200),
    # -- the XNAT-compatible API (/data; /REST serves the same routes) ---------------------
    ("GET", "/data/JSESSION"): Row("public", 200),
    ("POST", "/data/JSESSION"): Row("public", 200),
    ("DELETE", "/data/JSESSION"): Row("public", 200),
    ("PUT", "/data/services/auth"): Row("public", 200, content=XNAT_SIGN_IN, headers=FORM),
    ("POST", "/data/services/auth"): Row("public", 200, content=XNAT_SIGN_IN, headers=FORM),
    ("GET", "/data/auth"): Row("signed_in", 200),
    ("GET", "/data/version"): Row("public", 200),
    # -- XNAT-compatible API: experiments and scans ------------------------------------------
    ("GET", "/data/experiments"): Row("public", 200),
    ("GET", "/data/projects/{project}/experiments"): Row("read", 200),
    ("GET", "/data/projects/{project}/subjects/{subject}/experiments"): Row("read", 200),
    **{
        (method, base + tail): row
        for base in XNAT_EXPERIMENTS
        for (method, tail), row in {
            ("GET", ""): Row("read", 200, query="?format=json"),
            ("PUT", ""): Row("write", 200, query="?xnat:experimentData/note=changed"),
            ("DELETE", ""): Row("manage", 200, query="?removeFiles=true"),
            ("GET", "/scans"): Row("read", 200, query="?format=json"),
            ("GET", "/scans/{scan}"): Row("read", 200),
            ("PUT", "/scans/{scan}"): Row("write", 200, query="?quality=questionable"),
            ("DELETE", "/scans/{scan}"): Row("manage", 200, query="?removeFiles=true"),
        }.items()
    },
    ("GET", "/xapi/siteConfig/buildInfo"): Row("public", 200),
    # -- XNAT-compatible API: the import service and the prearchive. {timestamp} and
    # {session} name the world's staged session (scandepot.prearchive.names); so does
    # {staged_url} in a query.
    ("POST", "/data/services/import"): Row(
        "write", 200, content=_one_instance_zip(), query="?dest=/prearchive/projects/P"
    ),
    ("GET", "/data/prearchive/projects"): Row("signed_in", 200),
    ("GET", "/data/prearchive/projects/{project}"): Row("write", 200),
    ("GET", XNAT_STAGED): Row("staged_write", 200, query="?format=json"),
    ("DELETE", XNAT_STAGED): Row("staged_manage", 200),
    ("POST", XNAT_STAGED): Row("staged_write", 200, query="?action=build"),
    ("GET", XNAT_STAGED + "/scans"): Row("staged_write", 200),
    ("GET", XNAT_STAGED + "/scans/{scan}/resources"): Row("staged_write", 200),
    ("GET", XNAT_STAGED + "/scans/{scan}/resources/{resource}/files"): Row("staged_write", 200),
    ("GET", XNAT_STAGED + "/scans/{scan}/resources/{resource}/files/{file}"): Row(
        "staged_write", 200
    ),
    ("POST", "/data/services/archive"): Row("staged_manage", 200, query="?src={staged_url}"),
    ("POST", "/data/services/prearchive/move"): Row(
        "staged_write", 200, query="?src={staged_url}&newProject=P"
    ),
    ("POST", "/data/services/prearchive/rebuild"): Row(
        "staged_write", 200, query="?src={staged_url}"
    ),
    ("POST", "/data/services/prearchive/delete"): Row(
        "staged_manage", 200, query="?src={staged_url}"
    ),
    # -- XNAT: what xnatpy reads to build its object model ---------------------------------
    ("GET", "/xapi/schemas"): Row("public", 200),
    ("GET", "/xapi/schemas/{name}"): Row("public", 200, params={"name": "xnat"}),
    ("GET", "/data/search/elements"): Row("public", 200, query="?format=json"),
    ("GET", "/data/search/elements/{name}"): Row(
        "public", 200, params={"name": "xnat:subjectData"}
    ),
    # -- XNAT: projects and subjects ---------------------------------------------------------
    ("GET", "/data/projects"): Row("public", 200, query="?format=json"),
    ("GET", "/data/projects/{project}"): Row("see", 200, query="?format=json"),
    ("GET", "/data/projects/{project}/subjects"): Row("read", 200, query="?format=json"),
    ("GET", "/data/projects/{project}/subjects/{subject}"): Row("read", 200, query="?format=json"),
    ("PUT", "/data/projects/{project}/subjects/{subject}"): Row(
        "write", 200, query="?xsiType=xnat:subjectData&gender=female"
    ),
    ("DELETE", "/data/projects/{project}/subjects/{subject}"): Row(
        "manage", 200, query="?removeFiles=true"
    ),
    ("GET", "/data/subjects"): Row("public", 200, query="?format=json"),
    ("GET", "/data/subjects/{subject_id}"): Row("id_read", 200, query="?format=json"),
    # -- XNAT: search (what the caller may not read is not in the rows: tests/api/xnat) ----
    ("POST", "/data/search"): Row("public", 200, content=XNAT_SEARCH, query="?format=json"),
    ("HEAD", "/readyz"): Row("public", 200),
    ("POST", "/api/v1/auth/login"): Row(
        "public", 200, body=lambda a: {"login": "spare", "password": PASSWORD}
    ),
    ("POST", "/api/v1/auth/logout"): Row("public", 204),
    ("GET", "/api/v1/auth/me"): Row("signed_in", 200),
    ("POST", "/api/v1/auth/password"): Row(
        "signed_in", 204, body=lambda a: {"current_password": PASSWORD, "new_password": PASSWORD}
    ),
    ("GET", "/api/v1/auth/tokens"): Row("signed_in", 200),
    ("POST", "/api/v1/auth/tokens"): Row("signed_in", 201, body=lambda a: {"name": "t"}),
    ("DELETE", "/api/v1/auth/tokens/{token_id}"): Row("signed_in", 204),
    ("GET", "/api/v1/users"): Row("site_admin", 200),
    ("POST", "/api/v1/users"): Row(
        "site_admin", 201, body=lambda a: {"login": f"new_{a}", "password": PASSWORD}
    ),
    ("GET", "/api/v1/users/{login}"): Row("site_admin", 200),
    ("PATCH", "/api/v1/users/{login}"): Row("site_admin", 200, body=lambda a: {"full_name": a}),
    ("GET", "/api/v1/audit"): Row("site_admin", 200),
    ("GET", "/api/v1/admin/dicom-nodes"): Row("site_admin", 200),
    ("POST", "/api/v1/admin/dicom-nodes"): Row(
        "site_admin", 201, body=lambda a: {"ae_title": f"N_{a}"[:16], "host": "h", "port": 104}
    ),
    ("DELETE", "/api/v1/admin/dicom-nodes/{ae_title}"): Row(
        "site_admin", 204, params={"ae_title": "SPARE"}
    ),
    # -- retention of the staging areas (site administrators); the spare fixture's
    # schedule, hold and temporary file
    ("GET", RT + "/plan"): Row("site_admin", 200),
    ("POST", RT + "/run"): Row("site_admin", 200),
    ("GET", RT + "/schedules"): Row("site_admin", 200),
    ("POST", RT + "/schedules"): Row(
        "site_admin", 201, body=lambda a: {"area": "temporary", "age_hours": 5}
    ),
    ("PUT", RT + "/schedules/{schedule_id}"): Row(
        "site_admin", 200, body=lambda a: {"area": "scratch", "age_days": 3, "warn_hours": 4}
    ),
    ("DELETE", RT + "/schedules/{schedule_id}"): Row("site_admin", 204),
    ("GET", RT + "/holds"): Row("site_admin", 200),
    ("POST", RT + "/holds"): Row(
        "site_admin", 201, body=lambda a: {"area": "temporary", "key": SPARE_TEMPORARY}
    ),
    ("DELETE", RT + "/holds/{hold_id}"): Row("site_admin", 204),
    # -- push destinations (site administrators); SPARE is the spare fixture's
    ("GET", "/api/v1/push/destinations"): Row("site_admin", 200),
    ("POST", "/api/v1/push/destinations"): Row(
        "site_admin",
        201,
        body=lambda a: {"name": f"n_{a}", "kind": "dicomweb", "url": "https://node.example/dw"},
    ),
    ("GET", PD): Row("site_admin", 200, params={"name": "SPARE"}),
    ("PATCH", PD): Row("site_admin", 200, body=lambda a: {"description": a}, params=SPARE_PD),
    ("DELETE", PD): Row("site_admin", 204, params=SPARE_PD),
    ("PUT", PD + "/projects/{project}"): Row("site_admin", 200, params=SPARE_PD),
    ("DELETE", PD + "/projects/{project}"): Row("site_admin", 200, params=SPARE_PD),
    ("POST", PD + "/check"): Row("site_admin", 200, params=SPARE_PD),
    # -- notifications: a project's recipients (its owners), one's own choices, failures
    ("GET", "/api/v1/admin/notifications"): Row("site_admin", 200),
    ("POST", "/api/v1/admin/notifications/{message_id}/retry"): Row("site_admin", 200),
    ("POST", "/api/v1/admin/notifications/{message_id}/dismiss"): Row("site_admin", 200),
    ("GET", "/api/v1/auth/notifications"): Row("signed_in", 200),
    ("PUT", "/api/v1/auth/notifications"): Row(
        "signed_in", 200, body=lambda a: {"topics": {"process": True}}
    ),
    ("DELETE", "/api/v1/auth/notifications/projects/{project}"): Row("signed_read", 204),
    ("GET", P + "/notifications/recipients"): Row("manage", 200),
    ("POST", P + "/notifications/recipients"): Row(
        "manage", 201, body=lambda a: {"address": f"{a}@example.org"}
    ),
    ("PUT", P + "/notifications/recipients/{recipient_id}"): Row(
        "manage", 200, body=lambda a: {"topics": ["process"]}
    ),
    ("DELETE", P + "/notifications/recipients/{recipient_id}"): Row("manage", 204),
    # -- the SFTP drop (docs/sftp.md): one's SSH keys, a project's drop accounts (its
    # owners), its matching rule and what waits unmatched (those who see its prearchive)
    ("GET", "/api/v1/auth/ssh-keys"): Row("signed_in", 200),
    ("POST", "/api/v1/auth/ssh-keys"): Row(
        "signed_in", 201, body=lambda a: {"public_key": f"{WORLD_SSH_KEY} {a}@host"}
    ),
    ("DELETE", "/api/v1/auth/ssh-keys/{key_id}"): Row("signed_in", 204),
    ("GET", P + "/drop-accounts"): Row("manage", 200),
    ("POST", P + "/drop-accounts"): Row(
        "manage", 201, body=lambda a: {"name": f"d_{a}", "password": PASSWORD}
    ),
    ("PATCH", P + "/drop-accounts/{name}"): Row(
        "manage", 200, body=lambda a: {"enabled": False}, params={"name": "scanner"}
    ),
    ("DELETE", P + "/drop-accounts/{name}"): Row("manage", 204, params={"name": "scanner"}),
    ("GET", P + "/drops"): Row("write", 200),
    ("GET", P + "/drops/rule"): Row("write", 200),
    ("PUT", P + "/drops/rule"): Row("manage", 200, body=lambda a: {"rule": "path"}),
    ("POST", P + "/drops/match"): Row(
        "write", 200, body=lambda a: {"entry": "physio", "session": "E1"}
    ),
    ("DELETE", P + "/drops/{drop_id}"): Row("manage", 204),
    ("GET", "/api/v1/projects"): Row("public", 200),
    ("GET", "/api/v1/prearchive"): Row("signed_in", 200),
    ("GET", "/api/v1/prearchive/{staged_id}"): Row("staged_write", 200),
    ("PATCH", "/api/v1/prearchive/{staged_id}"): Row(
        "staged_write", 200, body=lambda a: {"subject": f"S_{a}"}
    ),
    ("POST", "/api/v1/prearchive/{staged_id}/rebuild"): Row("staged_write", 200),
    ("POST", "/api/v1/prearchive/{staged_id}/archive"): Row("staged_manage", 200),
    ("DELETE", "/api/v1/prearchive/{staged_id}"): Row("staged_manage", 204),
    ("POST", P + "/import"): Row("write", 200, content=_one_instance_zip()),
    ("POST", P + "/held"): Row("write", 200, body=lambda a: {"instances": []}),
    ("POST", "/api/v1/projects"): Row("signed_in", 201, body=lambda a: {"id": f"NEW_{a}"}),
    ("GET", P): Row("see", 200),
    ("PATCH", P): Row("manage", 200, body=lambda a: {"description": f"by {a}"}),
    ("DELETE", P): Row("manage", 204, query="?recursive=true"),
    ("GET", P + "/users"): Row("role", 200),
    ("PUT", P + "/users/{login}"): Row("manage", 200, body=lambda a: {"role": "member"}),
    ("DELETE", P + "/users/{login}"): Row("manage", 204, params={"login": "spare"}),
    ("GET", P + "/subjects"): Row("read", 200),
    ("POST", P + "/subjects"): Row("write", 201, body=_label("S")),
    ("GET", P + "/subjects/{subject}"): Row("read", 200),
    ("PATCH", P + "/subjects/{subject}"): Row("write", 200, body=lambda a: {"group": a}),
    ("DELETE", P + "/subjects/{subject}"): Row("manage", 204, query="?recursive=true"),
    ("GET", P + "/sessions"): Row("read", 200),
    ("POST", P + "/sessions"): Row(
        "write", 201, body=lambda a: {"label": f"E_{a}", "subject": "S1"}
    ),
    ("GET", P + "/sessions/{session}"): Row("read", 200),
    ("PATCH", P + "/sessions/{session}"): Row("write", 200, body=lambda a: {"note": a}),
    ("DELETE", P + "/sessions/{session}"): Row("manage", 204),
    # Sharing (docs/transfers.md): into R, which holds nothing shared; out of Q, which does.
    ("GET", P + "/shares"): Row("read", 200),
    ("GET", P + "/subjects/{subject}/shares"): Row("read", 200),
    ("PUT", P + "/subjects/{subject}/shares/{into}"): Row("write", 200, params=UNSHARED),
    ("DELETE", P + "/subjects/{subject}/shares/{into}"): Row("write", 204, params=SHARED),
    ("GET", P + "/sessions/{session}/shares"): Row("read", 200),
    ("PUT", P + "/sessions/{session}/shares/{into}"): Row("write", 200, params=UNSHARED),
    ("DELETE", P + "/sessions/{session}/shares/{into}"): Row("write", 204, params=SHARED),
    **{
        (method, path + "/projects/{into}"): Row(
            "write", 200, params=UNSHARED if method == "PUT" else SHARED
        )
        for method in ("PUT", "DELETE")
        for path in (
            "/data/projects/{project}/subjects/{subject}",
            "/data/projects/{project}/subjects/{subject}/experiments/{experiment}",
            "/data/projects/{project}/experiments/{experiment}",
        )
    },
    ("GET", P + "/sessions/{session}/scans"): Row("read", 200),
    ("POST", P + "/sessions/{session}/scans"): Row("write", 201, body=lambda a: {"id": f"C_{a}"}),
    ("GET", P + "/sessions/{session}/scans/{scan}"): Row("read", 200),
    ("PATCH", P + "/sessions/{session}/scans/{scan}"): Row(
        "write", 200, body=lambda a: {"quality": "questionable"}
    ),
    ("DELETE", P + "/sessions/{session}/scans/{scan}"): Row("manage", 204),
    ("GET", "/api/v1/pipelines"): Row("public", 200),
    ("GET", P + "/pipelines"): Row("read", 200),
    ("GET", P + "/pipelines/{pipeline}"): Row("read", 200),
    ("PATCH", P + "/pipelines/{pipeline}"): Row(
        "manage", 200, body=lambda a: {"auto_launch": True}
    ),
    ("POST", P + "/sessions/{session}/jobs"): Row(
        "write", 202, body=lambda a: {"pipeline": "dcm2niix"}
    ),
    ("POST", P + "/sessions/{session}/scans/{scan}/jobs"): Row(
        "write", 202, body=lambda a: {"pipeline": "dcm2niix"}
    ),
    ("GET", P + "/jobs"): Row("read", 200),
    ("GET", P + "/jobs/{job}"): Row("read", 200),
    ("GET", P + "/jobs/{job}/log"): Row("read", 200),
    ("POST", P + "/jobs/{job}/rerun"): Row("write", 202),
    ("POST", P + "/jobs/{job}/cancel"): Row("write", 200, params={"job": "queued"}),
    # Webhooks (the world's project has one, with one delivery): for those who configure it.
    # A dry run: the plan, whatever it finds (P into P has a problem), for a signed-in
    # caller who may see the projects.
    ("POST", "/api/v1/transfers"): Row(
        "signed_see",
        200,
        body=lambda a: {
            "kind": "copy",
            "source": "P",
            "destination": "P",
            "sessions": ["E1"],
            "dry_run": True,
        },
    ),
    ("GET", "/api/v1/transfers"): Row("signed_in", 200),
    ("GET", "/api/v1/transfers/{transfer_id}"): Row("transfer_read", 200),
    ("GET", "/api/v1/transfers/{transfer_id}/report"): Row("transfer_read", 200),
    ("POST", "/api/v1/transfers/{transfer_id}/cancel"): Row("transfer_manage", 200),
    # Pushes (push/follow.py): started and listed by a signed-in caller who may download
    # P's data, to a destination that takes P; one is shown and cancelled as a transfer is.
    ("POST", P + "/pushes"): Row(
        "signed_read", 202, body=lambda a: {"destination": "M", "sessions": ["W1"]}
    ),
    ("GET", P + "/pushes"): Row("signed_read", 200),
    ("GET", P + "/pushes/{push_id}"): Row("transfer_read", 200),
    ("GET", P + "/pushes/{push_id}/instances"): Row("transfer_read", 200),
    ("POST", P + "/pushes/{push_id}/cancel"): Row("transfer_manage", 200),
    ("GET", "/api/v1/pushes/{push_id}"): Row("transfer_read", 200),
    ("POST", "/api/v1/pushes/{push_id}/cancel"): Row("transfer_manage", 200),
    # Saved selections (docs/selections.md): the world's project has SEL (holding E1). Seen
    # with read, saved and changed with write, deleted with manage (as every delete).
    ("GET", P + "/selections"): Row("read", 200),
    ("POST", P + "/selections"): Row(
        "write", 201, body=lambda a: {"name": f"N_{a}", "sessions": ["E1"]}
    ),
    ("GET", P + "/selections/{name}"): Row("read", 200, params=SELECTION),
    ("PATCH", P + "/selections/{name}"): Row(
        "write", 200, body=lambda a: {"remove": ["E1"]}, params=SELECTION
    ),
    ("DELETE", P + "/selections/{name}"): Row("manage", 204, params=SELECTION),
    # Datasets: D1 (version 1 published, version 2 a draft; spare a co-owner), D2 (a draft
    # only), D3 (version 1 released, its validation passed), D4 (version 1 validated).
    ("GET", DS): Row("signed_in", 200),
    ("POST", DS): Row(
        "signed_in", 201, body=lambda a: {"name": f"ds_{a}", "metadata": {"title": a}}
    ),
    ("GET", DS + "/{dataset}"): Row("public", 200, params=D1),
    ("PATCH", DS + "/{dataset}"): Row("dataset_edit", 200, body=lambda a: {"title": a}, params=D1),
    ("DELETE", DS + "/{dataset}"): Row("dataset_private", 204, params={"dataset": "D2"}),
    ("GET", DS + "/{dataset}/members"): Row("dataset_edit", 200, params=D1),
    ("PATCH", DS + "/{dataset}/members"): Row(
        "dataset_edit", 200, body=lambda a: {"remove_sessions": ["DS/E9"]}, params=D1
    ),
    ("PUT", DS + "/{dataset}/owners/{login}"): Row("dataset_edit", 200, params=D1),
    ("DELETE", DS + "/{dataset}/owners/{login}"): Row("dataset_edit", 200, params=D1),
    ("POST", DS + "/{dataset}/release"): Row("dataset_edit", 200, params=D1),
    ("POST", DS + "/{dataset}/versions"): Row("dataset_private", 201, params=D3),
    ("GET", DS + "/{dataset}/versions/{number}"): Row("public", 200, params=D1),
    ("POST", DS + "/{dataset}/versions/{number}/validate"): Row("dataset_curate", 200, params=D3),
    ("POST", DS + "/{dataset}/versions/{number}/send-back"): Row(
        "dataset_curate", 200, body=lambda a: {"comment": "More."}, params=D3
    ),
    ("POST", DS + "/{dataset}/versions/{number}/publish"): Row(
        "dataset_private", 200, params={"dataset": "D4", "number": 1}
    ),
    ("POST", DS + "/{dataset}/versions/{number}/withdraw"): Row("dataset_edit", 200, params=D1),
    ("GET", DS + "/{dataset}/versions/{number}/manifest"): Row("dataset_edit", 200, params=D1),
    ("GET", DS + "/{dataset}/history"): Row("dataset_edit", 200, params=D1),
    ("GET", P + "/webhooks"): Row("manage", 200),
    ("POST", P + "/webhooks"): Row(
        "manage", 201, body=lambda a: {"url": f"http://127.0.0.1:9/{a}"}, per_actor=True
    ),
    ("GET", P + "/webhooks/{webhook_id}"): Row("manage", 200),
    ("PUT", P + "/webhooks/{webhook_id}"): Row(
        "manage", 200, body=lambda a: {"description": f"by {a}"}
    ),
    ("DELETE", P + "/webhooks/{webhook_id}"): Row("manage", 204),
    ("GET", P + "/webhooks/deliveries"): Row("manage", 200),
    ("POST", P + "/webhooks/deliveries/{delivery_id}/redeliver"): Row(
        "manage", 202, per_actor=True
    ),
    # De-identification (docs/deid.md): the project's scripts, the test on a sample
    # instance and the pseudonym table, for those who configure the project. The world's
    # project has an archive script (version 1) and a pseudonym.
    ("GET", P + "/deid/scripts"): Row("manage", 200),
    ("GET", P + "/deid/scripts/{purpose}"): Row("manage", 200, params=DEID_ARCHIVE),
    ("PUT", P + "/deid/scripts/{purpose}"): Row(
        "manage", 200, body=lambda a: {"kind": "profile", "text": DEID_PROFILE}, params=DEID_EXPORT
    ),
    ("PATCH", P + "/deid/scripts/{purpose}"): Row(
        "manage", 200, body=lambda a: {"enabled": False}, params=DEID_ARCHIVE
    ),
    ("GET", P + "/deid/scripts/{purpose}/versions"): Row("manage", 200, params=DEID_ARCHIVE),
    ("GET", P + "/deid/scripts/{purpose}/versions/{version}"): Row(
        "manage", 200, params={**DEID_ARCHIVE, "version": 1}
    ),
    ("POST", P + "/deid/test"): Row(
        "manage", 200, content=DEID_TEST_FORM, headers={"content-type": DEID_TEST_TYPE}
    ),
    # The export is a GET that the audit log records (deid.pseudonyms_exported).
    ("GET", P + "/deid/pseudonyms"): Row("manage", 200),
    ("POST", P + "/deid/pseudonyms"): Row(
        "manage", 200, content=b"ptid,W2,SUBJ-W2\n", headers={"content-type": "text/csv"}
    ),
    ("DELETE", P + "/deid/pseudonyms"): Row("manage", 204),
    # Clinical data (docs/clinical.md): the world's project has a subject and a session
    # schema, and a record for S1 and for E1. Reading takes read, records write (a delete
    # manage, as every delete), schemas manage; an export is a download.
    ("GET", P + "/clinical/schema"): Row("read", 200),
    ("GET", P + "/clinical/schema/{level}"): Row("read", 200, params=CLINICAL_LEVEL),
    ("PUT", P + "/clinical/schema/{level}"): Row(
        "manage", 200, body=lambda a: CLINICAL_SCHEMA, params=CLINICAL_LEVEL
    ),
    ("GET", P + "/clinical/schema/{level}/versions"): Row("read", 200, params=CLINICAL_LEVEL),
    ("GET", P + "/clinical/schema/{level}/versions/{version}"): Row(
        "read", 200, params={**CLINICAL_LEVEL, "version": 1}
    ),
    ("GET", P + "/clinical/schema/{level}/check"): Row("read", 200, params=CLINICAL_LEVEL),
    ("POST", P + "/clinical/import"): Row(
        "write", 200, content=b"subject,diagnosis\nS1,HC\n", headers={"content-type": "text/csv"}
    ),
    ("GET", P + "/clinical/export"): Row("read", 200),
}
for _prefix in (P + "/subjects/{subject}/clinical", P + "/sessions/{session}/clinical"):
    ROUTES.update(
        {
            ("GET", _prefix): Row("read", 200),
            ("PUT", _prefix): Row("write", 200, body=lambda a: {"diagnosis": "HC"}),
            ("PATCH", _prefix): Row("write", 200, body=lambda a: {"diagnosis": "MCI"}),
            ("DELETE", _prefix): Row("manage", 204),
            ("GET", _prefix + "/history"): Row("read", 200),
        }
    )
for _prefix in LEVEL_PREFIXES.values():
    ROUTES.update(
        {
            ("GET", _prefix + "/resources"): Row("read", 200),
            ("POST", _prefix + "/resources"): Row("write", 201, body=_label("R")),
            ("GET", _prefix + "/resources/{resource}"): Row("read", 200),
            ("DELETE", _prefix + "/resources/{resource}"): Row("manage", 204),
            ("GET", _prefix + "/resources/{resource}/files"): Row("read", 200),
            ("PUT", _prefix + "/resources/{resource}/files/{path}"): Row(
                "write", 201, content=b"new bytes", params={"path": "new_{actor}.dcm"}
            ),
            ("GET", _prefix + "/resources/{resource}/files/{path}"): Row("read", 200),
            ("HEAD", _prefix + "/resources/{resource}/files/{path}"): Row("read", 200),
            ("DELETE", _prefix + "/resources/{resource}/files/{path}"): Row("manage", 204),
        }
    )


# -- the XNAT-compatible API: resources and files, under every path form of their owner
# (api/xnat/owners.py); the site-wide ID forms get the world's IDs (url_values).
# -- datasets: a released version's validation, access requests and downloads -------------
DV = "/api/v1/datasets/{dataset}/versions/{version}"
DR = DV + "/access-requests/{request_id}"
ASK = {"purpose": "Training a model of the world's brains."}
APPROVED = {"request": "approved"}
ROUTES.update(
    {
        ("GET", DV + "/validation"): Row("dataset_report", 200),
        # The world's version is published: a curator decided, so it is not run again.
        ("POST", DV + "/validation"): Row("dataset_report", 409),
        ("POST", DV + "/access-requests"): Row("dataset_ask", 201, body=lambda _a: ASK),
        ("GET", DV + "/access-requests"): Row("signed_in", 200),
        ("GET", DR): Row("dataset_request", 200),
        ("POST", DR + "/approve"): Row("dataset_edit", 200),
        ("POST", DR + "/refuse"): Row("dataset_edit", 200),
        ("POST", DR + "/revoke"): Row("dataset_edit", 200, params=APPROVED),
        ("GET", DV + "/download"): Row("dataset_download", 200, query="?format=tar"),
        ("GET", "/api/v1/dataset-requests"): Row("signed_in", 200),
    }
)

XNAT_FORM = {"content-type": "multipart/form-data; boundary=matrix"}
XNAT_FORM_BODY = (
    b'--matrix\r\nContent-Disposition: form-data; name="file"; filename="form.txt"\r\n\r\n'
    b"form\r\n--matrix--\r\n"
)
# One's own choices for a project (notify/choices.py): a signed-in user's, in a project
# they may read; the project is loaded as for any read, so others are refused as there.
PROJECT.update(
    {
        ("private", "signed_read"): (401, 404, OK, OK, OK, OK),
        ("protected", "signed_read"): (401, 403, OK, OK, OK, OK),
        ("public", "signed_read"): (401, OK, OK, OK, OK, OK),
    }
)
# Transfers (transfers/service.py): one is shown to its requester, a site admin, and whoever
# may read its source or destination, and hidden (404) from everyone else, whatever the
# project's accessibility; it is cancelled by an owner of either (refused, 403, to others
# who may read it). A check or a start needs a
# signed-in caller who may see both projects: the world's (P into P) is then refused by
# its check (409).
PROJECT.update(
    {
        ("private", "transfer_read"): (401, 404, OK, OK, OK, OK),
        ("protected", "transfer_read"): (401, 404, OK, OK, OK, OK),
        ("public", "transfer_read"): (401, OK, OK, OK, OK, OK),
        ("private", "transfer_manage"): (401, 404, 403, 403, OK, OK),
        ("protected", "transfer_manage"): (401, 404, 403, 403, OK, OK),
        ("public", "transfer_manage"): (401, 403, 403, 403, OK, OK),
        ("private", "signed_see"): (401, 404, OK, OK, OK, OK),
        ("protected", "signed_see"): (401, OK, OK, OK, OK, OK),
        ("public", "signed_see"): (401, OK, OK, OK, OK, OK),
        # Read, by a signed-in caller (a form that changes something, of a project read).
        ("private", "signed_read"): (401, 404, OK, OK, OK, OK),
        ("protected", "signed_read"): (401, 403, OK, OK, OK, OK),
        ("public", "signed_read"): (401, OK, OK, OK, OK, OK),
    }
)
# A subject named by its site-wide ID that the caller may not see: as "id_read", for
# writes.
PROJECT.update(
    {
        ("private", "id_write"): (401, 404, 403, OK, OK, OK),
        ("protected", "id_write"): (401, 403, 403, OK, OK, OK),
        ("public", "id_write"): (401, 403, 403, OK, OK, OK),
        ("private", "id_manage"): (401, 404, 403, 403, OK, OK),
        ("protected", "id_manage"): (401, 403, 403, 403, OK, OK),
        ("public", "id_manage"): (401, 403, 403, 403, OK, OK),
    }
)


def _level(path: str, level: str) -> str:
    return f"id_{level}" if path.startswith("/subjects/") else level


for _name, _path, _dep, _owner in xnat_owners.OWNERS:
    _r = "/data" + _path + "/resources"
    _new = {"resource": "R_new_{actor}"}
    _file = {"path": "new_{actor}.dcm"}
    ROUTES.update(
        {
            ("GET", _r): Row(_level(_path, "read"), 200, query="?format=json"),
            ("GET", _r + "/{resource}"): Row(_level(_path, "read"), 200),
            ("PUT", _r + "/{resource}"): Row(
                _level(_path, "write"), 201, params=_new, per_actor=True
            ),
            ("POST", _r + "/{resource}"): Row(
                _level(_path, "write"), 201, params=_new, per_actor=True
            ),
            ("DELETE", _r + "/{resource}"): Row(_level(_path, "manage"), 200),
            ("GET", _r + "/{resource}/files"): Row(
                _level(_path, "read"), 200, query="?format=json"
            ),
            ("PUT", _r + "/{resource}/files"): Row(
                _level(_path, "write"), 200, content=XNAT_FORM_BODY, headers=XNAT_FORM
            ),
            ("POST", _r + "/{resource}/files"): Row(
                _level(_path, "write"), 200, content=XNAT_FORM_BODY, headers=XNAT_FORM
            ),
            ("GET", _r + "/{resource}/files/{path}"): Row(_level(_path, "read"), 200),
            ("HEAD", _r + "/{resource}/files/{path}"): Row(_level(_path, "read"), 200),
            ("PUT", _r + "/{resource}/files/{path}"): Row(
                _level(_path, "write"),
                200,
                content=b"new bytes",
                params=_file,
                query="?inbody=true",
                per_actor=True,
            ),
            ("POST", _r + "/{resource}/files/{path}"): Row(
                _level(_path, "write"),
                200,
                content=b"new bytes",
                params=_file,
                query="?inbody=true",
                per_actor=True,
            ),
            ("DELETE", _r + "/{resource}/files/{path}"): Row(_level(_path, "manage"), 200),
        }
    )
for _name, _path, _dep in xnat_owners.EXPERIMENTS:
    ROUTES[("GET", "/data" + _path + "/files")] = Row("read", 200, query="?format=json")
    ROUTES[("GET", "/data" + _path + "/scans/{scans}/files")] = Row(
        "read", 200, query="?format=zip"
    )

# Archive downloads, manifests and download lists: read level, like a single file.
for _prefix in (P, LEVEL_PREFIXES["session"], LEVEL_PREFIXES["scan"]):
    ROUTES[("GET", _prefix + "/download")] = Row("read", 200, query="?format=tar")
    ROUTES[("GET", _prefix + "/manifest")] = Row("read", 200)
    ROUTES[("GET", _prefix + "/download-list")] = Row("read", 200)
for _prefix in LEVEL_PREFIXES.values():
    ROUTES[("GET", _prefix + "/resources/{resource}/download")] = Row("read", 200)
    ROUTES[("GET", _prefix + "/resources/{resource}/manifest")] = Row("read", 200)
    ROUTES[("GET", _prefix + "/resources/{resource}/download-list")] = Row("read", 200)

# The visit store (docs/datalad.md): the project's read level, as any download. The world's
# session E1 is the visit; url_values puts a deposit file and a catalog page in place.
DL = "/datalad/{project}"
for _method in ("GET", "HEAD"):
    ROUTES[(_method, DL + "/{visit}_dicom.tar")] = Row("read", 200)
    ROUTES[(_method, DL + "/{name}")] = Row("read", 200)
ROUTES[("GET", DL + "/catalog/{path}")] = Row("read", 200, params={"path": "index.html"})


# -- DICOMweb --------------------------------------------------------------------------------
# Every route under both roots: the project's ("read", "write": the project's rules) and the
# site-wide one ("public" for searches, which match only what the caller may read;
# "site_read" for retrievals of the world's study). {study}, {series}, {instance} name the
# world's archived instance.
DW = "/dicomweb"
DWP = "/dicomweb/projects/{project}"
# The archived DICOM instance of the world, for the DICOMweb routes.
WORLD_STUDY = "1.2.826.0.1.3680043.8.498.77001"
WORLD_SERIES = "1.2.826.0.1.3680043.8.498.77002"
WORLD_INSTANCE = "1.2.826.0.1.3680043.8.498.77003"

# STOW-RS rows.
STOW = {"content-type": 'multipart/related; type="application/dicom"; boundary=matrix'}


def _stow_body(study: str | None = None, routed_to: str | None = None) -> bytes:
    """One instance in a STOW-RS body: of the world's study when ``study`` is given, routed
    to a project by its Study Description when ``routed_to`` is."""
    from scandepot.dicom.synthetic import Series, Study, mr_instance, to_bytes

    about = Study(StudyDescription=f"xnat://{routed_to}" if routed_to else "Research^Brain")
    if study is not None:
        about.StudyInstanceUID = study
    part = to_bytes(mr_instance(about, Series(), 1, rows=8, columns=8))
    return b"--matrix\r\nContent-Type: application/dicom\r\n\r\n" + part + b"\r\n--matrix--\r\n"


_STUDY = WORLD_STUDY  # which {study} names
ROUTES[("POST", DWP + "/studies")] = Row("write", 200, content=_stow_body(), headers=STOW)
ROUTES[("POST", DWP + "/studies/{study}")] = Row(
    "write", 200, content=_stow_body(_STUDY), headers=STOW
)
ROUTES[("POST", DW + "/studies")] = Row(
    "site_write", 200, content=_stow_body(routed_to="P"), headers=STOW
)
ROUTES[("POST", DW + "/studies/{study}")] = Row(
    "site_write",
    200,
    content=_stow_body(_STUDY, routed_to="P"),
    headers=STOW,
)

# QIDO-RS rows. Under the project's root a reader finds the world's study; the site-wide
# root answers everyone with what they may read (tests/api/dicomweb/test_qido.py checks
# what each finds there).
for _path in (
    "/studies",
    "/series",
    "/instances",
    "/studies/{study}/series",
    "/studies/{study}/instances",
    "/studies/{study}/series/{series}/instances",
):
    for _method in ("GET", "HEAD"):  # HEAD: the answer's headers alone
        ROUTES[(_method, DWP + _path)] = Row("read", 200)
        ROUTES[(_method, DW + _path)] = Row("public", 200)

# WADO-RS and WADO-URI rows.
_ST = "/studies/{study}"
_IN = _ST + "/series/{series}/instances/{instance}"
for _root, _level in ((DWP, "read"), (DW, "site_read")):
    for _path in (
        _ST,
        _ST + "/series/{series}",
        _IN,
        _ST + "/metadata",
        _ST + "/series/{series}/metadata",
        _IN + "/metadata",
        _IN + "/frames/{frame_list}",
        _IN + "/bulkdata/{tag_path}",
        _ST + "/rendered",
        _ST + "/series/{series}/rendered",
        _IN + "/rendered",
        _IN + "/frames/{frame}/rendered",
        _ST + "/thumbnail",
        _ST + "/series/{series}/thumbnail",
        _IN + "/thumbnail",
    ):
        ROUTES[("GET", _root + _path)] = Row(
            _level, 200, params={"frame_list": "1", "frame": "1", "tag_path": "7FE00010"}
        )
ROUTES[("GET", "/wado")] = Row(
    "site_read",
    200,
    query=f"?requestType=WADO&studyUID={WORLD_STUDY}&seriesUID={WORLD_SERIES}"
    f"&objectUID={WORLD_INSTANCE}&contentType=application/dicom",
)


# Writes that only add an object named after the actor (its label in the body, or
# "{actor}" in a path value): every actor tries them in one world.
for (_method, _path), _row in list(ROUTES.items()):
    _adds = _method == "POST" and _row.body is not None and _row.body("a") != _row.body("b")
    _named = any("{actor}" in str(v) for v in _row.params.values())
    if _adds or _named or (_method, _path) == ("POST", "/api/v1/auth/tokens"):
        ROUTES[_method, _path] = replace(_row, per_actor=True)


@functools.cache
def route_table() -> Any:
    """An app for its route table alone, built once: the tests of the table read it."""
    return create_app(Settings(data_dir="/nonexistent-scandepot-route-table"))


def app_routes() -> set[tuple[str, str]]:
    """The app's route table: every operation of its OpenAPI document, and HEAD twins."""
    app = route_table()
    found = set()
    for path, operations in app.openapi()["paths"].items():
        for method in operations:
            found.add((method.upper(), path))
    for method, path in list(found):
        if method == "GET" and (path.endswith("/files/{path}") or path in ("/healthz", "/readyz")):
            found.add(("HEAD", path))
    # DICOMweb's and the visit store's HEAD routes, left out of it
    for route in iter_route_contexts(app.routes):
        if route.path.startswith((DW, DL)) and "HEAD" in (getattr(route, "methods", None) or ()):
            found.add(("HEAD", route.path))
    return found


def test_the_data_roots_other_names_serve_its_routes() -> None:
    """``/REST`` (XNAT's older name of ``/data``), ``/data/archive`` and ``/REST/archive``
    (the longer names xnatpy uses): the same routes as ``/data``, every one."""
    app = route_table()
    roots = ("/data", *xnat.ALIASES)
    under: dict[str, set[tuple[str, str]]] = {root: set() for root in roots}
    for route in iter_route_contexts(app.routes):
        # The longest root a route's path starts with is the one it was declared under.
        root = max((r for r in roots if route.path.startswith(r + "/")), key=len, default=None)
        if root is not None:
            path = route.path.removeprefix(root)
            under[root].update((m, path) for m in getattr(route, "methods", None) or ())
    assert under["/data"]
    for alias in xnat.ALIASES:
        assert under[alias] == under["/data"], alias


def test_every_route_has_a_row() -> None:
    routes = app_routes()
    assert sorted(routes - set(ROUTES)) == [], "routes without a row in ROUTES"
    assert sorted(set(ROUTES) - routes) == [], "rows for routes that do not exist"


def expected(row: Row, accessibility: str, actor_index: int) -> int:
    outcome = (SITE[row.level] if row.level in SITE else PROJECT[accessibility, row.level])[
        actor_index
    ]
    return row.success if outcome == OK else int(outcome)


def build_world(ctx: Context, accessibility: str) -> None:
    """Project P with owner, member and collaborator, a subject, session and scan, and a
    resource with one file at every level, and a snapshot picture of the scan; the spare
    user holds a collaborator role; dcm2niix enabled, with one finished and one queued
    job; a staged session."""
    from scandepot.archive import files, resources, scans, sessions, subjects
    from scandepot.archive.projects import ProjectCreate
    from scandepot.archive.resources import OwnerRef
    from scandepot.archive.scans import ScanCreate
    from scandepot.archive.sessions import SessionCreate
    from scandepot.archive.subjects import SubjectCreate

    projects.create(ctx, SYSTEM, ProjectCreate(id="P", accessibility=accessibility))
    for name in ("owner", "member", "collaborator"):
        roles.set_role(ctx, SYSTEM, "P", name, Role.parse(name))
    roles.set_role(ctx, SYSTEM, "P", "spare", Role.COLLABORATOR)
    subjects.create(ctx, SYSTEM, "P", SubjectCreate(label="S1"))
    sessions.create(ctx, SYSTEM, "P", SessionCreate(label="E1", subject="S1"))
    add_share_targets(ctx)
    scans.create(ctx, SYSTEM, "P", "E1", ScanCreate(id="1"))
    stage_one_instance(ctx)
    archive_one_instance(ctx)
    for ref in (
        OwnerRef("P"),
        OwnerRef("P", subject="S1"),
        OwnerRef("P", session="E1"),
        OwnerRef("P", session="E1", scan="1"),
    ):
        with ctx.store.stage() as staged:
            staged.write(b"DICM bytes")
            files.commit_upload(ctx, SYSTEM, ref, "DICOM", "a.dcm", staged)
    with ctx.store.stage() as staged:  # the scan's picture comes from it
        staged.write(_png())
        ref = OwnerRef("P", session="E1", scan="1")
        files.commit_upload(ctx, SYSTEM, ref, "SNAPSHOTS", "1_T1w.png", staged)
    del resources
    add_transfer(ctx)  # its job queued before the world's pipeline jobs
    add_push(ctx)  # and this one's too
    config.configure(ctx, SYSTEM, "P", "dcm2niix", ConfigUpdate(enabled=True))
    done = jobs.launch(ctx, SYSTEM, "P", "E1", LaunchRequest("dcm2niix"))
    with ctx.db.write() as db:
        db.execute(update(Job).where(Job.id == done.id).values(status="succeeded"))
    jobs.launch(ctx, SYSTEM, "P", "E1", LaunchRequest("dcm2niix"), scan="1")
    hook = webhooks.add(ctx, SYSTEM, "P", WebhookCreate(url="http://127.0.0.1:9/world"))
    with ctx.db.write() as db:
        row = db.get(Webhook, hook.id)
        assert row is not None
        outbox.add_delivery(
            db, row, '{"event":"SessionArchived"}', event="SessionArchived", topic="archived"
        )
    add_notifications(ctx)
    add_deid(ctx)
    add_clinical(ctx)
    add_selection(ctx)
    add_datasets(ctx)
    dataset_world.add_dataset(ctx)
    add_drops(ctx)


def add_drops(ctx: Context) -> None:
    """P's drop account 'scanner' and a folder it dropped, physio/, unmatched."""
    from scandepot.catalog.drops import DropAccount
    from scandepot.ingest import drop_accounts, drop_settler, drops
    from scandepot.ingest.drop_accounts import DropAccountCreate
    from scandepot.ingest.sftp_signin import DropPrincipal

    data = DropAccountCreate(name="scanner", password=PASSWORD)
    drop_accounts.create(ctx, SYSTEM, "P", data)
    with ctx.db.read() as db:
        account = db.scalar(select(DropAccount))
        assert account is not None
        who = DropPrincipal(account.id, account.project_id, "P", account.username, None)
    drops.make_folder(ctx, who, ("physio",))
    upload = drops.begin(ctx, who, ("physio", "resp.log"))
    upload.write(0, b"breathing")
    drop_settler.finish(upload)


def add_datasets(ctx: Context) -> None:
    """Project DS (private; the owner reads it) with S9/E9 and a file, and the datasets of
    the rows, owned by the owner (see the rows)."""
    from scandepot.access.users import actor_for
    from scandepot.archive import files, sessions, subjects
    from scandepot.archive.projects import ProjectCreate
    from scandepot.archive.resources import OwnerRef
    from scandepot.archive.sessions import SessionCreate
    from scandepot.archive.subjects import SubjectCreate
    from scandepot.catalog.datasets import DatasetVersion
    from scandepot.datasets import drafts, lifecycle, members, owners, release
    from scandepot.datasets.drafts import DatasetCreate
    from scandepot.datasets.members import MemberChange

    projects.create(ctx, SYSTEM, ProjectCreate(id="DS"))
    roles.set_role(ctx, SYSTEM, "DS", "owner", Role.COLLABORATOR)
    subjects.create(ctx, SYSTEM, "DS", SubjectCreate(label="S9"))
    sessions.create(ctx, SYSTEM, "DS", SessionCreate(label="E9", subject="S9"))
    with ctx.store.stage() as staged:
        staged.write(b"held bytes")
        files.commit_upload(ctx, SYSTEM, OwnerRef("DS", session="E9"), "DICOM", "h.dcm", staged)
    with ctx.db.read() as db:
        owner = actor_for(db.scalars(select(User).where(User.login == "owner")).one())
    meta = {
        "title": "T",
        "description": "D",
        "authors": [{"name": "A"}],
        "contact": {"name": "C", "email": "c@example.org"},
        "licence": "CC0-1.0",
    }

    def released(name: str) -> None:
        drafts.create(ctx, owner, DatasetCreate(name=name, metadata=meta))
        members.change(ctx, owner, name, MemberChange(add_sessions=["DS/E9"]))
        release.release(ctx, owner, name)
        with ctx.db.write() as db:  # what the validation job records
            db.execute(update(DatasetVersion).values(validation="passed"))

    for name in ("D1", "D3", "D4"):
        released(name)
    lifecycle.validate(ctx, SYSTEM, "D1", 1)
    lifecycle.publish(ctx, owner, "D1", 1)
    lifecycle.new_version(ctx, owner, "D1")
    roles.set_role(ctx, SYSTEM, "DS", "spare", Role.COLLABORATOR)  # owners read the data
    owners.add(ctx, owner, "D1", "spare")
    lifecycle.validate(ctx, SYSTEM, "D4", 1)
    drafts.create(ctx, owner, DatasetCreate(name="D2", metadata={"title": "T"}))


def add_selection(ctx: Context) -> None:
    """P's saved selection SEL, holding E1."""
    from scandepot.archive import selections
    from scandepot.archive.selections import SelectionCreate

    selections.create(ctx, SYSTEM, "P", SelectionCreate(name="SEL", sessions=["E1"]))


def add_clinical(ctx: Context) -> None:
    """P's clinical schemas (version 1 of each level) and a record for S1 and for E1."""
    from scandepot.clinical import records, schemas
    from scandepot.clinical.records import Target

    for level in ("subject", "session"):
        schemas.save(ctx, SYSTEM, "P", level, CLINICAL_SCHEMA)
    records.put(ctx, SYSTEM, Target("P", "S1"), {"diagnosis": "AD"})
    records.put(ctx, SYSTEM, Target("P", session="E1"), {"diagnosis": "AD"})


def add_deid(ctx: Context) -> None:
    """P's archive script (version 1, the basic profile), its key and one pseudonym, as a
    save and an import write them (the rows alone: the world needs no loader)."""
    import hashlib

    with ctx.db.write() as db:
        project_id = db.scalar(select(Project.id).where(Project.label == "P"))
        assert project_id is not None
        db.add(
            DeidScript(
                project_id=project_id,
                purpose="archive",
                version=1,
                kind="profile",
                text=DEID_PROFILE,
                pixel_text="",
                sha256=hashlib.sha256(DEID_PROFILE.encode()).hexdigest(),
                enabled=True,
                created_by="owner",
            )
        )
        db.add(DeidKey(project_id=project_id, secret="ab" * 32))
        db.add(Pseudonym(project_id=project_id, kind="ptid", original="W1", pseudonym="SUBJ-W1"))


def add_share_targets(ctx: Context) -> None:
    """Projects Q and R (protected, with P's owner, member and collaborator in the same
    roles) to share into: P's S1 and E1 are shared into Q, nothing into R. Sharing takes
    read on P and write there; unsharing write there or manage on P: for these actors,
    both come to what write on P takes."""
    from scandepot.archive.projects import ProjectCreate
    from scandepot.transfers import shares

    for label in SHARE_TARGETS:
        projects.create(ctx, SYSTEM, ProjectCreate(id=label, accessibility="protected"))
        for name in ("owner", "member", "collaborator"):
            roles.set_role(ctx, SYSTEM, label, name, Role.parse(name))
    shares.share_session(ctx, SYSTEM, "P", "E1", "Q")


def add_transfer(ctx: Context) -> None:
    """A queued copy of E1 within P, asked by the spare user (no actor's own), with its
    item and its job, as a start writes them."""
    asked = TransferRequest(kind=TransferKind.COPY, source="P", destination="P", sessions=["E1"])
    with ctx.db.write() as db:
        project = db.scalar(select(Project).where(Project.label == "P"))
        session = db.scalar(select(Session).where(Session.label == "E1"))
        spare = db.scalar(select(User.id).where(User.login == "spare"))
        assert project is not None and session is not None
        transfer = Transfer(
            kind="copy",
            source_project_id=project.id,
            dest_project_id=project.id,
            source="P",
            destination="P",
            request=asked.model_dump(mode="json"),
            files_total=1,
            report={},
            user_id=spare,
            requested_by="spare",
        )
        db.add(transfer)
        db.flush()
        db.add(
            TransferItem(
                transfer_id=transfer.id,
                position=0,
                source_session_id=session.id,
                source_subject="S1",
                source_session="E1",
                dest_subject="S1",
                dest_session="E1_copy",
                verified={},
            )
        )
        job = jobs.new_task(
            db, project, "transfer", {"transfer": transfer.id}, "transfer", launched_by="spare"
        )
        transfer.job_id = job.id


def add_push(ctx: Context) -> None:
    """Destination M (a node of the site: no script needed) that takes P, and a queued
    push of W1 (the session of the world's archived instance) to it, asked by the system
    (no actor's own)."""
    from scandepot.catalog.push import PushDestination, PushDestinationProject
    from scandepot.push.requests import PushRequest, request_push

    with ctx.db.write() as db:
        project_id = db.scalar(select(Project.id).where(Project.label == "P"))
        dest = PushDestination(
            name="M",
            kind="dicomweb",
            url="http://127.0.0.1:9/dicom-web",
            external=False,
            created_by="system",
        )
        db.add(dest)
        db.flush()
        db.add(
            PushDestinationProject(
                destination_id=dest.id, project_id=project_id, created_by="system"
            )
        )
    request_push(ctx, SYSTEM, "P", PushRequest(destination="M", sessions=["W1"]))


def add_notifications(ctx: Context) -> None:
    """A recipient of P, and an email to it that its server refused."""
    from scandepot.notify import subscriptions
    from scandepot.notify.subscriptions import RecipientCreate

    subscriptions.add_recipient(ctx, SYSTEM, "P", RecipientCreate(address="world@example.org"))
    with ctx.db.write() as db:
        project_id = db.scalar(select(Project.id).where(Project.label == "P"))
        row = outbox.add_email(
            db,
            ctx,
            to="world@example.org",
            subject="s",
            text="t",
            html="",
            topic=Topic.ARCHIVED,
            project_id=project_id,
        )
    outbox.record(ctx, row.id, outbox.Attempt(False, 550, "550 no such user", permanent=True))


def _png() -> bytes:
    import io

    from PIL import Image

    picture = io.BytesIO()
    Image.new("L", (64, 32), 128).save(picture, format="PNG")
    return picture.getvalue()


def job_id(ctx: Context, status: str) -> int:
    """Project P's newest job in ``status`` (the datasets' validations run in DS)."""
    with ctx.db.read() as db:
        found = db.scalar(
            select(Job.id)
            .join(Project, Project.id == Job.project_id)
            .where(Job.status == status, Project.label == "P")
            .order_by(Job.id.desc())
        )
    assert found is not None
    return found


def newest(ctx: Context, column: Any) -> int:
    with ctx.db.read() as db:
        found = db.scalar(select(column).order_by(column.desc()).limit(1))
    assert found is not None
    return int(found)


def stage_one_instance(ctx: Context) -> None:
    """A staged session in project P, received like any instance."""
    from scandepot.dicom.synthetic import Series, Study, mr_instance, to_bytes
    from scandepot.ingest.receive import Source, receive

    with ctx.store.stage() as staged:
        staged.write(to_bytes(mr_instance(Study(), Series(), 1, rows=8, columns=8)))
        receive(ctx, staged, Source("upload", project="P"))


def archive_one_instance(ctx: Context) -> None:
    """One MR instance archived into project P (a session of its own), received and
    archived like any upload."""
    from scandepot.dicom.synthetic import Series, Study, mr_instance, to_bytes
    from scandepot.ingest.receive import Source, receive
    from scandepot.prearchive import operations

    study = Study(PatientName="World^One", PatientID="W1", StudyInstanceUID=WORLD_STUDY)
    series = Series(SeriesInstanceUID=WORLD_SERIES)
    ds = mr_instance(study, series, 1, rows=8, columns=8, SOPInstanceUID=WORLD_INSTANCE)
    with ctx.store.stage() as staged:
        staged.write(to_bytes(ds))
        receive(ctx, staged, Source("upload", project="P"))
    with ctx.db.read() as db:
        held = db.scalar(
            select(StagedSession.id).where(StagedSession.StudyInstanceUID == WORLD_STUDY)
        )
    assert held is not None
    operations.archive(ctx, SYSTEM, held)


def stable_id(ctx: Context, kind: type[Subject] | type[Session], label: str) -> str:
    """The site-wide ID of the world's subject or session so labelled."""
    with ctx.db.read() as db:
        found = db.scalar(select(kind.stable_id).where(kind.label == label))
    assert found is not None
    return found


def staged_id(ctx: Context) -> int:
    with ctx.db.read() as db:
        found = db.scalar(select(StagedSession.id).order_by(StagedSession.id.desc()))
    assert found is not None
    return found


# What a refused request must not change the number of.
COUNTED = (
    Project,
    Subject,
    Session,
    Scan,
    Resource,
    File,
    ProjectRole,
    User,
    StagedSession,
    Instance,
    DicomNode,
    Webhook,
    OutboxMessage,
    Share,
    Transfer,
    TransferItem,
    DeidScript,
    DeidKey,
    Pseudonym,
    DropAccount,
    DropItem,
    SshKey,
    Dataset,
    DatasetVersion,
    DatasetMember,
    DatasetOwner,
    DatasetFile,
    RetentionSchedule,
    RetentionHold,
)


def snapshot(ctx: Context) -> tuple[Any, ...]:
    """What a refused request must not change."""
    with ctx.db.read() as db:
        # One statement for every count: a round trip each took most of the matrix's time
        # on its writes, which take a snapshot before and after each refused request.
        counts = tuple(
            db.execute(
                select(*(select(func.count()).select_from(m).scalar_subquery() for m in COUNTED))
            ).one()
        )
        project = db.scalar(select(Project).where(Project.label == "P"))
        described = (project.name, project.description, project.accessibility) if project else None
        live_tokens = db.scalar(
            select(func.count(ApiToken.id)).where(ApiToken.revoked_at.is_(None))
        )
        notes = tuple(db.scalars(select(Session.note).order_by(Session.id)))
        notes += tuple(db.execute(select(Scan.quality, Scan.note).order_by(Scan.id)))
        notes += tuple(db.execute(select(User.full_name, User.enabled).order_by(User.id)))
        notes += tuple(db.execute(select(DropAccount.username, DropAccount.enabled)))
        notes += tuple(db.execute(select(DropRule.rule, DropRule.quota_bytes)))
        notes += tuple(db.execute(select(DropItem.state, DropItem.session_id)))
        staged = tuple(db.scalars(select(StagedSession.subject)))
        staged += tuple(
            db.execute(
                select(
                    DatasetVersion.state, DatasetVersion.meta, DatasetVersion.curator_comment
                ).order_by(DatasetVersion.id)
            )
        )
        job_states = tuple(db.execute(select(Job.status, Job.cancel_requested)).all())
        job_states += tuple(db.execute(select(Transfer.status, Transfer.message)).all())
        pipelines = tuple(db.execute(select(PipelineConfig.enabled, PipelineConfig.auto_launch)))
        pipelines += tuple(db.execute(select(Webhook.url, Webhook.enabled, Webhook.description)))
        pipelines += tuple(db.execute(select(DeidScript.version, DeidScript.enabled)))
        pipelines += tuple(db.execute(select(DatasetAccess.state).order_by(DatasetAccess.id)))
        notify = (
            tuple(db.execute(select(Recipient.address, Recipient.topics).order_by(Recipient.id))),
            tuple(
                db.execute(select(Choice.user_id, Choice.project_id, Choice.topic, Choice.enabled))
            ),
            tuple(db.execute(select(OutboxMessage.status, OutboxMessage.attempts))),
        )
    return counts, described, live_tokens, notes, staged, job_states, pipelines, notify


def reset(ctx: Context, accessibility: str, app: Any) -> None:
    after_archive(app)  # the pictures and metadata of the last archive, drawn by now
    if saved_world.restore(ctx, accessibility):
        return
    if projects_exist(ctx):
        with ctx.db.write() as db:  # the datasets first: releases hold DS's files
            db.execute(delete(Dataset))
        for label in ("P", *SHARE_TARGETS, "DS"):
            projects.delete(ctx, SYSTEM, label, recursive=True)
    with ctx.db.write() as db:
        for leftover in db.scalars(select(StagedSession)):
            db.delete(leftover)
    build_world(ctx, accessibility)


def cases(table: dict[tuple[str, str], Any]) -> list[tuple[tuple[str, str], tuple[str, ...]]]:
    """Each route with the accessibilities it is tried under in one test: a read changes
    nothing, so one world serves all three (its project's accessibility switched in
    place); a write gets a world of its own for each."""
    found: list[tuple[tuple[str, str], tuple[str, ...]]] = []
    for route in sorted(table):
        if route[0] in ("GET", "HEAD"):
            found.append((route, ACCESSIBILITIES))
        else:
            found += [(route, (accessibility,)) for accessibility in ACCESSIBILITIES]
    return found


def case_id(case: tuple[tuple[str, str], tuple[str, ...]]) -> str:
    (method, template), accessibilities = case
    return f"{method} {template}-{'/'.join(accessibilities)}"


def worlds(ctx: Context, accessibilities: tuple[str, ...], app: Any) -> Iterator[str]:
    """The world built (or put back) under the first accessibility, then switched to each
    next one."""
    for number, accessibility in enumerate(accessibilities):
        if number == 0:
            if not saved_world.restore(ctx, accessibility):
                build_world(ctx, accessibility)
                after_archive(app)  # saved with the pictures and metadata drawn
                saved_world.save(ctx, accessibility)
        else:
            with ctx.db.write() as db:
                db.execute(
                    update(Project).where(Project.label == "P").values(accessibility=accessibility)
                )
        yield accessibility


def projects_exist(ctx: Context) -> bool:
    with ctx.db.read() as db:
        return db.scalar(select(Project.id).where(Project.label == "P")) is not None


@pytest.fixture
def spare(ctx: Context, users: dict[str, User], password_hash: str) -> None:
    with ctx.db.write() as db:
        db.add(User(login="spare", full_name="Spare", password_hash=password_hash))
        db.add(DicomNode(ae_title="SPARE"))  # for DELETE /api/v1/admin/dicom-nodes/...
        # A schedule and a hold to change and remove, a temporary file to hold.
        db.add(RetentionSchedule(area="scratch", age_hours=48, changed_by="admin"))
        db.add(RetentionHold(area="temporary", item_key="gone.part", held_by="admin"))
    (ctx.store.tmp / SPARE_TEMPORARY).write_bytes(b"part")
    with ctx.db.write() as db:
        # A destination on a closed port, for the push destination routes.
        db.add(
            PushDestination(
                name="SPARE", kind="dicomweb", url="http://127.0.0.1:9/dw", created_by="admin"
            )
        )


def on_catalogs(
    table: dict[tuple[str, str], Any],
) -> Iterator[Any]:
    """Reads on both catalogs, writes on SQLite alone.

    A read's answer depends on SQL: listings and searches filter with the one permission
    condition (access.permissions.permission_clause), which each database runs. Whether a
    write may go ahead is decided in Python (access.permissions.require) before anything
    is written, so the catalog does not change the answer; every write route's own tests
    run it on PostgreSQL too. (The matrix is the suite's largest part; writes on both
    catalogs took a third of it.)"""
    for case in cases(table):
        (method, _), _ = case
        write = method not in ("GET", "HEAD")
        for backend in ("sqlite",) if write else ("sqlite", "postgresql"):
            yield pytest.param(case, backend, id=f"{backend}-{case_id(case)}")


@pytest.mark.usefixtures("viewer")
@pytest.mark.parametrize(("case", "backend"), list(on_catalogs(ROUTES)), indirect=["backend"])
def test_route(
    case: tuple[tuple[str, str], tuple[str, ...]],
    ctx: Context,
    client: TestClient,
    actors: dict[str, Any],
    spare: None,
) -> None:
    route, accessibilities = case
    method, template = route
    row = ROUTES[route]
    for accessibility in worlds(ctx, accessibilities, client.app):
        for index, name in enumerate(ACTOR_NAMES):
            values = url_values(ctx, template + row.query, row.params, name)
            url = template.format(**values) + row.query.format(**values)
            compared = method not in ("GET", "HEAD") or "token_id" in values
            before = snapshot(ctx) if compared else None
            r = client.request(
                method,
                url,
                auth=actors[name],
                json=row.body(name) if row.body else None,
                content=row.content,
                headers=row.headers or None,
            )
            want = expected(row, accessibility, index)
            assert r.status_code == want, f"{method} {url} as {name}: {r.status_code} {r.text}"
            if r.status_code >= 400:
                if r.headers.get("content-type") == "application/dicom+json":
                    # A STOW-RS answer that stored nothing: every instance failed.
                    assert "00081198" in r.json() and "00081199" not in r.json()
                elif url.startswith(XNAT_ROOTS):
                    assert method == "HEAD" or "<h3>" in r.text  # XNAT's status page
                elif method != "HEAD":
                    assert set(r.json()) == {"error"}
                if compared:
                    after = snapshot(ctx)
                    assert after == before, f"refused {method} {url} as {name} changed something"
            elif method not in ("GET", "HEAD") and index < len(ACTOR_NAMES) - 1:
                if not row.per_actor:
                    # for the next actor (after the last: no one)
                    reset(ctx, accessibility, client.app)


def url_values(ctx: Context, template: str, params: dict[str, Any], name: str) -> dict[str, Any]:
    """What fills a route's template for actor ``name`` in the world: the labels, and the
    staged session, job or (one of the actor's own) token the route names."""
    values = {
        "project": "P",
        "subject": "S1",
        "session": "E1",
        "scan": "1",
        "resource": "DICOM",
        "path": "a.dcm",
        "login": "spare",
        "pipeline": "dcm2niix",
        "study": WORLD_STUDY,
        "series": WORLD_SERIES,
        "instance": WORLD_INSTANCE,
        "scans": "ALL",
        **{k: v.format(actor=name) if isinstance(v, str) else v for k, v in params.items()},
    }
    if "{staged_id}" in template:
        values["staged_id"] = staged_id(ctx)
    if "{dataset}" in template and "dataset" not in params:
        values.setdefault("number", 1)
        with ctx.db.read() as db:
            values["dataset"] = db.scalar(select(Dataset.stable_id).where(Dataset.name == "world"))
    if "{experiment}" in template and "experiment" not in params:
        # In a project by label, by site-wide ID outside one (XNAT clients use both).
        values["experiment"] = "E1" if "{project}" in template else stable_id(ctx, Session, "E1")
    if "{subject_id}" in template:
        values["subject_id"] = stable_id(ctx, Subject, "S1")
    if "{timestamp}" in template or "{staged_url}" in template:
        values.update(xnat_staged_name(ctx))
    if "{webhook_id}" in template:
        values["webhook_id"] = newest(ctx, Webhook.id)
    if "{delivery_id}" in template:
        with ctx.db.read() as db:  # the world's webhook delivery (its refused email is newer)
            values["delivery_id"] = db.scalar(
                select(func.max(OutboxMessage.id)).where(OutboxMessage.webhook_id.is_not(None))
            )
    if "{job}" in template:
        values["job"] = job_id(ctx, "queued" if params.get("job") else "succeeded")
    if "{transfer_id}" in template:
        values["transfer_id"] = newest(ctx, Transfer.id)
    if "{push_id}" in template:
        with ctx.db.read() as db:  # the world's, not one an actor asked for
            values["push_id"] = db.scalar(select(func.min(Push.id)))
    if "{recipient_id}" in template:
        with ctx.db.read() as db:
            values["recipient_id"] = db.scalar(select(func.max(Recipient.id)))
    if "{schedule_id}" in template:
        values["schedule_id"] = newest(ctx, RetentionSchedule.id)
    if "{hold_id}" in template:
        values["hold_id"] = newest(ctx, RetentionHold.id)
    if "{message_id}" in template:
        with ctx.db.read() as db:
            values["message_id"] = db.scalar(select(func.max(OutboxMessage.id)))
    if "{drop_id}" in template:
        values["drop_id"] = newest(ctx, DropItem.id)
    if "{key_id}" in template:
        from scandepot.ingest import ssh_keys

        owner = {"anonymous": "spare"}.get(name, name)
        values["key_id"] = ssh_keys.add_key(ctx, SYSTEM, owner, f"{WORLD_SSH_KEY} k").id
    if "{dataset}" in template:
        values.setdefault("dataset", "world")
        values.setdefault("version", 1)
    if "{request_id}" in template:
        values["request_id"] = dataset_world.request_id(ctx, params.get("request", "pending"))
    if template.startswith(DL):
        values.update(datalad_values(ctx))
    if "{token_id}" in template:
        owner = {"anonymous": "spare"}.get(name, name)
        actor = _actor_of(ctx, owner)
        values["token_id"] = tokens.create(ctx, actor, TokenCreate(name="t")).record.id
    return values


def datalad_values(ctx: Context) -> dict[str, str]:
    """The world's session as a visit, with a deposit file and a catalog page in place."""
    from scandepot.datalad import catalog, store

    visit = stable_id(ctx, Session, "E1")
    refs = f"{visit}_XDLRA--refs"
    deposit = store.deposit_dir(ctx, visit)
    deposit.mkdir(parents=True, exist_ok=True)
    (deposit / refs).write_text("refs\n")
    pages = catalog.catalog_dir(ctx, "P")
    pages.mkdir(parents=True, exist_ok=True)
    (pages / "index.html").write_text("<html></html>\n")
    return {"visit": visit, "name": refs}


def xnat_staged_name(ctx: Context) -> dict[str, str]:
    """The world's staged session as XNAT names it: path values, and its URL."""
    from scandepot.prearchive import names, operations

    with ctx.db.read() as db:
        staged = db.get(StagedSession, staged_id(ctx))
        assert staged is not None
        name = names.of(staged)
    first = operations.staged_files(ctx, SYSTEM, staged.id)[0]  # unbuilt: scan is its series
    return {
        "timestamp": name.timestamp,
        "session": name.folder,
        "staged_url": name.path,
        "scan": first.scan,
        "file": f"{first.SOPInstanceUID}.dcm",
    }


def _actor_of(ctx: Context, login: str) -> Any:
    from scandepot.access.users import actor_for

    with ctx.db.read() as db:
        user = db.scalar(select(User).where(User.login == login))
    assert user is not None
    return actor_for(user)


# -- pages ----------------------------------------------------------------------------------
# The pages (web/) are left out of the OpenAPI document. They answer at the same levels; an
# anonymous visitor who asks for a page where the API says 401 is sent to the sign-in page
# (LOGIN: a 303 to /login?next=...), and a form sent without signing in gets 401.
LOGIN = "login"
LOGIN_TOKEN = "matrix-login-form"  # the sign-in form's token, as its cookie repeats it
W = "/projects/{project}"
MY = "/my-datasets"


@dataclass(frozen=True)
class Page:
    level: str  # as Row.level
    success: int = 200
    # Sent as a POST form when given; "{actor}" and "{accessibility}" in values are filled.
    form: dict[str, str] | None = None
    query: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    outcomes: tuple[int | str, ...] | None = None  # per actor, where not as the level says
    cookies: dict[str, str] = field(default_factory=dict)
    spends: bool = False  # a success takes what the next actor needs: build the world again


PAGES: dict[tuple[str, str], tuple[Page, ...]] = {
    ("GET", "/"): (Page("public"),),
    # Signed in already: on to the page the form would have led to.
    ("GET", "/login"): (Page("public", outcomes=(200, 303, 303, 303, 303, 303)),),
    ("POST", "/login"): (
        Page(
            "public",
            303,
            form={"login": "spare", "password": PASSWORD, "login_token": LOGIN_TOKEN},
            cookies={"scandepot_login": LOGIN_TOKEN},
        ),
    ),
    ("POST", "/logout"): (Page("public", 303, form={}),),
    ("GET", "/tokens"): (Page("signed_in"),),
    ("POST", "/tokens"): (Page("signed_in", 200, form={"name": "t"}),),  # shows the token
    ("POST", "/tokens/{token_id}/revoke"): (Page("signed_in", 303, form={}),),
    ("GET", "/admin/users"): (Page("site_admin"), Page("site_admin", query="?q=spare")),
    ("POST", "/admin/users"): (
        Page("site_admin", 303, form={"login": "new_{actor}", "password": PASSWORD}),
    ),
    ("POST", "/admin/users/{login}"): (
        Page("site_admin", 303, form={"full_name": "{actor}", "enabled": "on"}),
    ),
    ("GET", "/admin/audit"): (Page("site_admin"),),
    ("GET", "/admin/push-destinations"): (Page("site_admin"),),
    ("POST", "/admin/push-destinations"): (
        Page("site_admin", 303, form={"name": "n_{actor}", "kind": "dicomweb", "url": NODE}),
    ),
    ("GET", WPD): (Page("site_admin", params=SPARE_PD),),
    ("POST", WPD): (
        Page("site_admin", 303, form={"description": "{actor}", "url": NODE}, params=SPARE_PD),
    ),
    ("POST", WPD + "/allow"): (Page("site_admin", 303, form={"project": "P"}, params=SPARE_PD),),
    ("POST", WPD + "/disallow"): (Page("site_admin", 303, form={"project": "P"}, params=SPARE_PD),),
    ("POST", WPD + "/check"): (Page("site_admin", 303, form={}, params=SPARE_PD),),
    ("POST", WPD + "/remove"): (Page("site_admin", 303, form={}, params=SPARE_PD),),
    ("GET", "/admin/notifications"): (
        Page("site_admin"),
        Page("site_admin", query="?status=dismissed"),
    ),
    ("POST", "/admin/notifications/{message_id}/retry"): (Page("site_admin", 303, form={}),),
    ("GET", "/admin/retention"): (Page("site_admin"),),
    ("POST", "/admin/retention/run"): (Page("site_admin", 303, form={}),),
    ("POST", "/admin/retention/schedules"): (
        Page("site_admin", 303, form={"area": "temporary", "age": "5", "unit": "days"}),
    ),
    ("POST", "/admin/retention/schedules/{schedule_id}/delete"): (
        Page("site_admin", 303, form={}),
    ),
    ("POST", "/admin/retention/holds"): (
        Page("site_admin", 303, form={"area": "temporary", "key": SPARE_TEMPORARY}),
    ),
    ("POST", "/admin/retention/holds/{hold_id}/release"): (Page("site_admin", 303, form={}),),
    ("POST", "/admin/notifications/{message_id}/dismiss"): (Page("site_admin", 303, form={}),),
    ("GET", "/notifications"): (Page("signed_in"),),
    ("POST", "/notifications"): (
        Page("signed_in", 303, form={"shown": "process", "t_process": "on"}),
    ),
    ("POST", "/notifications/projects/{project}/reset"): (Page("signed_read", 303, form={}),),
    ("GET", "/projects"): (Page("public"), Page("public", query="?q=P")),
    ("GET", "/datasets"): (Page("public"), Page("public", query="?q=world&body_part=brain")),
    ("GET", "/datasets/{dataset}"): (Page("public"),),
    ("GET", "/datasets/{dataset}/v{number:int}"): (
        Page("public"),
        Page("unpublished", params={"number": 2}),
    ),
    # -- datasets for signed-in people (web/my_datasets.py, web/dataset_steps.py): the world's
    # datasets as their API rows (D1 published, its v2 a draft, owned by owner and spare; D2
    # a draft; D3 released, its validation passed; D4 validated; world published, its v2 a
    # draft, spare's request pending). A step refused for what was typed (a second release,
    # a step the state does not allow) goes back to the page, as a success does: 303.
    ("GET", MY): (Page("signed_in"),),
    ("POST", MY): (Page("signed_in", 303, form={"name": "ds_{actor}", "title": "T"}),),
    ("GET", MY + "/{dataset}"): (Page("dataset_edit"), Page("dataset_private", params=D3)),
    ("POST", MY + "/{dataset}/metadata"): (
        Page("dataset_edit", 303, form={"title": "By {actor}", "keywords": "a\nb"}),
    ),
    ("POST", MY + "/{dataset}/members"): (
        Page("dataset_edit", 303, form={"add_sessions": "DS/E9"}, params=D1),
    ),
    ("POST", MY + "/{dataset}/owners"): (Page("dataset_edit", 303, form={"login": "spare"}),),
    ("POST", MY + "/{dataset}/owners/{login}/remove"): (
        Page("dataset_edit", 303, form={}, params=D1),
    ),
    ("POST", MY + "/{dataset}/delete"): (
        Page("dataset_private", 303, form={}, params={"dataset": "D2"}, spends=True),
    ),
    ("POST", MY + "/{dataset}/release"): (Page("dataset_edit", 303, form={}, params=D1),),
    ("POST", MY + "/{dataset}/new-version"): (Page("dataset_private", 303, form={}, params=D3),),
    ("POST", MY + "/{dataset}/v{number:int}/{step}"): (
        Page("dataset_curate", 303, form={}, params={**D3, "step": "validate"}),
        Page("dataset_curate", 303, form={"comment": "More."}, params={**D3, "step": "send-back"}),
        Page(
            "dataset_private",
            303,
            form={},
            params={"dataset": "D4", "number": 1, "step": "publish"},
        ),
        Page("dataset_edit", 303, form={"comment": "Gone."}, params={**D1, "step": "withdraw"}),
        Page("dataset_private", 303, form={}, params={**D3, "step": "revalidate"}),
    ),
    ("POST", MY + "/{dataset}/v{number:int}/requests/{request_id}/{decision}"): (
        Page(
            "dataset_edit",
            303,
            form={"comment": "Yes."},
            params={"decision": "approve"},
            spends=True,  # the next actor needs a pending request
        ),
        Page("dataset_edit", 303, form={}, params={"decision": "refuse"}, spends=True),
        Page("dataset_edit", 303, form={}, params={"decision": "revoke", **APPROVED}, spends=True),
    ),
    ("GET", "/curation"): (Page("dataset_curate_queue"),),
    ("POST", "/datasets/{dataset}/v{number:int}/access"): (
        # Any signed-in user but the owner and the member, whose refusals (they own it,
        # they hold access) go back to the page, told why.
        Page(
            "dataset_ask",
            303,
            form={"purpose": "Training a model of brains."},
            outcomes=(401, 303, 303, 303, 303, 303),
        ),
    ),
    ("POST", "/projects"): (Page("signed_in", 303, form={"id": "NEW_{actor}"}),),
    ("GET", W): (
        Page("see"),
        Page("read", query="?tab=sessions"),
        Page("read", query="?tab=sessions&modality=MR&date_from=2024-01-01&sort=-date"),
        Page("read", query="?tab=subjects"),
        Page("read", query="?tab=access"),  # the people only for those with a role
        Page("read", query="?tab=pipelines"),
        Page("manage", query="?tab=manage"),
    ),
    ("POST", W + "/settings"): (
        Page("manage", 303, form={"name": "P", "conflict_policy": "keep"}),
    ),
    ("POST", W + "/accessibility"): (
        Page("manage", 303, form={"accessibility": "{accessibility}"}),
    ),
    ("POST", W + "/roles"): (Page("manage", 303, form={"login": "spare", "role": "collaborator"}),),
    ("POST", W + "/roles/{login}/remove"): (Page("manage", 303, form={}, spends=True),),
    ("POST", W + "/notifications/recipients"): (
        Page("manage", 303, form={"address": "{actor}@example.org", "topic": "archived"}),
    ),
    ("POST", W + "/notifications/recipients/{recipient_id}"): (
        Page("manage", 303, form={"topic": "process"}),
    ),
    ("POST", W + "/notifications/recipients/{recipient_id}/remove"): (
        Page("manage", 303, form={}, spends=True),
    ),
    ("POST", W + "/pipelines/{pipeline}"): (
        Page("manage", 303, form={"enabled": "on"}, params={"pipeline": "snapshots"}),
    ),
    # A webhook with a secret given: back to the tab; with one made: a page that shows it.
    ("POST", W + "/webhooks"): (
        Page("manage", 303, form={"url": "http://127.0.0.1:9/{actor}", "secret": "m" * 16}),
        Page("manage", 200, form={"url": "http://127.0.0.1:9/{actor}"}),
    ),
    ("POST", W + "/webhooks/{webhook_id}"): (Page("manage", 303, form={}),),
    ("POST", W + "/webhooks/{webhook_id}/remove"): (Page("manage", 303, form={}, spends=True),),
    ("POST", W + "/webhooks/deliveries/{delivery_id}/redeliver"): (Page("manage", 303, form={}),),
    # De-identification (web/deid.py): the editor, saving, on and off, a test on the world's
    # archived instance, the pseudonym table. A form carries no file here: an import
    # without one is told, on its page, that it has no rows (422), once the caller is
    # known to manage the project.
    ("GET", W + "/deid/scripts/{purpose}"): (
        Page("manage", params=DEID_ARCHIVE),
        Page("manage", query="?version=1", params=DEID_ARCHIVE),
    ),
    ("POST", W + "/deid/scripts/{purpose}"): (
        # Form values are formatted ("{actor}"): the braces of the JSON doubled.
        Page(
            "manage", 303, form={"kind": "profile", "text": '{{"options": []}}'}, params=DEID_EXPORT
        ),
    ),
    ("POST", W + "/deid/scripts/{purpose}/test"): (
        Page("manage", 200, form={"session": "W1"}, params=DEID_ARCHIVE),
    ),
    ("POST", W + "/deid/scripts/{purpose}/enabled"): (
        Page("manage", 303, form={}, params=DEID_ARCHIVE),
    ),
    ("GET", W + "/deid/pseudonyms.csv"): (Page("manage"),),
    ("POST", W + "/deid/pseudonyms"): (Page("manage", 422, form={"mode": "merge"}),),
    ("POST", W + "/deid/pseudonyms/clear"): (Page("manage", 303, form={}),),
    # A form without a file: told, on its page, that the file is empty (422), once the
    # caller is known to write in the project.
    ("POST", W + "/clinical/import"): (Page("write", 422, form={}),),
    ("GET", W + "/subjects/{subject}"): (Page("read"),),
    ("GET", W + "/sessions/{session}"): (Page("read"),),
    ("GET", W + "/sessions/{session}/resources/{resource}"): (
        Page("read"),
        Page("read", query="?scan=1"),
    ),
    ("GET", W + "/sessions/{session}/scans/{scan}/thumbnail.png"): (Page("read"),),
    ("POST", W + "/sessions/{session}/note"): (Page("write", 303, form={"note": "{actor}"}),),
    ("POST", W + "/sessions/{session}/scans/{scan}"): (
        Page("write", 303, form={"quality": "questionable"}),
    ),
    ("POST", W + "/sessions/{session}/jobs"): (Page("write", 303, form={"pipeline": "dcm2niix"}),),
    # Sharing into R, unsharing from Q (add_share_targets): both take write, as the API's.
    ("POST", W + "/subjects/{subject}/shares"): (
        Page("write", 303, form={"into": "R"}, spends=True),
    ),
    ("POST", W + "/subjects/{subject}/shares/{into}/remove"): (
        Page("write", 303, form={}, params=SHARED, spends=True),
    ),
    ("POST", W + "/sessions/{session}/shares"): (
        Page("write", 303, form={"into": "R"}, spends=True),
    ),
    ("POST", W + "/sessions/{session}/shares/{into}/remove"): (
        Page("write", 303, form={}, params=SHARED, spends=True),
    ),
    ("GET", W + "/jobs/{job}"): (Page("read"),),
    ("POST", W + "/jobs/{job}/{what}"): (
        Page("write", 303, form={}, params={"what": "rerun"}),
        Page("write", 303, form={}, params={"what": "cancel", "job": "queued"}, spends=True),
    ),
    ("GET", "/transfers"): (Page("signed_in"), Page("signed_in", query="?project=P")),
    ("GET", "/transfers/new"): (Page("read", query="?source=P&kind=move&sessions=E1"),),
    # Sessions ticked on P's page, shared into R: the outcome of each on the page (the
    # first actor's share, the others' refusals), for whoever may read P.
    ("GET", "/shares/new"): (Page("read", query="?source=P&sessions=E1"),),
    ("POST", "/shares"): (
        Page("signed_read", form={"source": "P", "into": "R", "sessions": "E1"}),
    ),
    # The check of P into P: a page with its problem, for whoever may see P.
    ("POST", "/transfers/check"): (
        Page("signed_see", form={"source": "P", "destination": "P", "sessions": "E1"}),
    ),
    # Confirmed, the same: refused by the check, the page again (409), nothing written.
    ("POST", "/transfers"): (
        Page(
            "signed_see",
            409,
            form={
                "request": '{{"kind": "copy", "source": "P", "destination": "P", '
                '"sessions": ["E1"]}}'
            },
        ),
    ),
    ("GET", "/transfers/{transfer_id}"): (Page("transfer_read"),),
    ("GET", "/pushes"): (Page("signed_read", query="?project=P"),),
    ("GET", "/pushes/new"): (Page("signed_read", query="?source=P&sessions=W1"),),
    ("POST", "/pushes"): (
        Page("signed_read", 303, form={"project": "P", "destination": "M", "sessions": "W1"}),
    ),
    ("GET", "/pushes/{push_id}"): (Page("transfer_read"),),
    ("POST", "/pushes/{push_id}/cancel"): (Page("transfer_manage", 303, form={}, spends=True),),
    ("GET", W + "/selections"): (Page("read"),),
    ("GET", W + "/selections/new"): (Page("read", query="?sessions=E1"),),
    ("POST", W + "/selections"): (
        Page("write", 303, form={"name": "N_{actor}", "sessions": "E1"}),
    ),
    ("POST", W + "/selections/{name}"): (
        Page("write", 303, form={"name": "SEL", "remove": "E1"}, params=SELECTION, spends=True),
    ),
    ("POST", W + "/selections/{name}/delete"): (
        Page("manage", 303, form={}, params=SELECTION, spends=True),
    ),
    ("POST", "/transfers/{transfer_id}/cancel"): (
        Page("transfer_manage", 303, form={}, spends=True),
    ),
    ("GET", "/upload"): (Page("signed_in"),),
    ("GET", "/download"): (
        Page("public"),
        Page("read", query="?project=P"),
        Page("read", query="?project=P&session=E1"),
    ),
    # On to the API's download route, which checks who asks (ROUTES).
    ("GET", "/download/archive"): (
        Page("public", 303, query="?project=P&session=E1"),
        Page("public", 303, query="?project=P&session=E1&save=list"),
    ),
    # The image viewer: a project's for its readers; its files, and the site-wide viewer
    # (which shows what the visitor may read), for anyone. A stand-in viewer folder
    # (fake_viewer) is in place.
    ("GET", "/viewer/projects/{project}"): (Page("read"),),
    ("GET", "/viewer/projects/{project}/{route:path}"): (
        Page("read", params={"route": ""}),
        Page("read", params={"route": "viewer"}, query=f"?StudyInstanceUIDs={WORLD_STUDY}"),
    ),
    ("GET", "/viewer/projects/{project}/app-config.js"): (Page("read"),),
    ("GET", "/viewer/app-config.js"): (Page("public"),),
    ("GET", "/viewer/{name:path}"): (
        Page("public", params={"name": "viewer"}, query=f"?StudyInstanceUIDs={WORLD_STUDY}"),
        Page("public", params={"name": "app.bundle.css"}),
    ),
    ("GET", "/prearchive"): (Page("signed_in"),),
    ("GET", "/prearchive/{staged_id}"): (Page("staged_write"),),
    ("POST", "/prearchive/drops/{project}/match"): (
        Page("write", 303, form={"entry": "physio", "session": "E1"}, spends=True),
    ),
    ("POST", "/prearchive/{staged_id}/{what}"): (
        Page("staged_write", 303, form={}, params={"what": "rebuild"}),
        Page("staged_write", 303, form={"subject": "S_{actor}"}, params={"what": "relabel"}),
        Page("staged_write", 303, form={"project": "P"}, params={"what": "move"}),
        Page("staged_manage", 303, form={}, params={"what": "archive"}, spends=True),
        Page("staged_manage", 303, form={}, params={"what": "delete"}, spends=True),
    ),
}


# Routes that ROUTES holds (or, for the data root's other names, that mirror those it
# holds), though the OpenAPI document leaves some out: HEAD routes, the aliases.
NOT_PAGES = ("/api/", "/healthz", "/readyz", DW, "/datalad/", *XNAT_ROOTS, *XNAT_ALIASES)


def page_routes() -> set[tuple[str, str]]:
    """The app's pages: the routes its OpenAPI document leaves out (read the way FastAPI
    reads them for that document), but for the API's HEAD routes, which ROUTES holds."""
    app = route_table()
    return {
        (method, route.path)
        for route in iter_route_contexts(app.routes)
        if isinstance(route.original_route, APIRoute)
        and not route.include_in_schema
        and not route.path.startswith(NOT_PAGES)
        for method in route.methods or ()
    }


@pytest.fixture
def viewer(ctx: Context, tmp_path: Any) -> None:
    from tests.web.test_viewer_files import fake_viewer

    ctx.settings.viewer_dir = fake_viewer(tmp_path / "ohif")


def test_every_page_has_a_row() -> None:
    routes = page_routes()
    assert sorted(routes - set(PAGES)) == [], "pages without a row in PAGES"
    assert sorted(set(PAGES) - routes) == [], "rows for pages that do not exist"


def expected_page(page: Page, method: str, accessibility: str, actor_index: int) -> int | str:
    if page.outcomes is not None:
        return page.outcomes[actor_index]
    table = (
        SITE
        if page.level in SITE
        else {k[1]: v for k, v in PROJECT.items() if k[0] == accessibility}
    )
    outcome = table[page.level][actor_index]
    if outcome == OK:
        return page.success
    return LOGIN if outcome == 401 and method == "GET" else int(outcome)


def page_answer(r: Any) -> int | str:
    if r.status_code == 303 and r.headers["location"].startswith("/login?next="):
        return LOGIN
    return int(r.status_code)


@pytest.mark.usefixtures("viewer")
@pytest.mark.parametrize(("case", "backend"), list(on_catalogs(PAGES)), indirect=["backend"])
def test_page(
    case: tuple[tuple[str, str], tuple[str, ...]],
    ctx: Context,
    client: TestClient,
    actors: dict[str, Any],
    spare: None,
) -> None:
    route, accessibilities = case
    method, template = route
    wrong = []
    for accessibility in worlds(ctx, accessibilities, client.app):
        for page in PAGES[route]:
            for index, name in enumerate(ACTOR_NAMES):
                values = url_values(ctx, template, page.params, name)
                url = re.sub(r":(?:path|int)}", "}", template).format(**values) + page.query
                for cookie, value in page.cookies.items():
                    client.cookies.set(cookie, value)
                before = snapshot(ctx) if method != "GET" else None
                if page.form is None:
                    r = client.request(method, url, auth=actors[name], follow_redirects=False)
                else:
                    fields = {
                        k: v.format(actor=name, accessibility=accessibility)
                        for k, v in page.form.items()
                    }
                    r = client.post(url, data=fields, auth=actors[name], follow_redirects=False)
                client.cookies.clear()  # a sign-in or a message on its way must not follow
                want = expected_page(page, method, accessibility, index)
                if page_answer(r) != want:
                    wrong.append(f"{method} {url} as {name}: {page_answer(r)}, expected {want}")
                elif isinstance(want, int) and want >= 400:
                    assert "text/html" in r.headers["content-type"], url
                    if method != "GET":
                        changed = snapshot(ctx) != before
                        assert not changed, f"refused {method} {url} as {name} changed something"
                elif page.spends and (page, index) != (PAGES[route][-1], len(ACTOR_NAMES) - 1):
                    # for the next actor (after the last: no one)
                    reset(ctx, accessibility, client.app)
    assert wrong == []
