"""The native REST API, mounted at /api/v1."""

from __future__ import annotations

from fastapi import APIRouter

from scandepot.api.v1 import (
    audit,
    auth,
    clinical,
    deid,
    dicom_nodes,
    downloads,
    drops,
    imports,
    members,
    notifications,
    pipelines,
    prearchive,
    projects,
    push_destinations,
    pushes,
    resources,
    scans,
    selections,
    sessions,
    shares,
    ssh_keys,
    subjects,
    transfers,
    users,
    webhooks,
)

router = APIRouter(prefix="/api/v1")
for sub in (
    auth.router,
    ssh_keys.router,
    users.router,
    audit.router,
    dicom_nodes.router,
    notifications.admin_router,
    notifications.choices_router,
    projects.router,
    members.router,
    notifications.recipients_router,
    prearchive.router,
    drops.accounts_router,
    drops.router,
    imports.router,
    subjects.router,
    sessions.router,
    shares.router,
    scans.router,
    pipelines.router,
    webhooks.router,
    deid.router,
    selections.router,
    pushes.router,
    pushes.by_id,
    clinical.router,
    *resources.routers,
    downloads.router,
    transfers.router,
    push_destinations.router,
):
    router.include_router(sub)
