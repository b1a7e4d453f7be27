"""The native REST API, mounted at /api/v1."""

from __future__ import annotations

from fastapi import APIRouter

from scandepot.api.v1 import projects, resources, scans, sessions, subjects

router = APIRouter(prefix="/api/v1")
for sub in (projects.router, subjects.router, sessions.router, scans.router, *resources.routers):
    router.include_router(sub)
