"""The XNAT-compatible REST API: ``/data`` (and ``/REST``, its older name) and the few
``/xapi`` routes XNAT clients ask for, as thin adapters over the same services and the
same permission check as ``/api/v1``. docs/xnat-api.md lists every route served."""

from __future__ import annotations

from fastapi import APIRouter

from scandepot.api.xnat import (
    auth,
    elements,
    errors,
    experiments,
    files,
    imports,
    prearchive,
    prearchive_files,
    prearchive_services,
    projects,
    resources,
    scans,
    schemas,
    site,
    subjects,
)
from scandepot.api.xnat.archive_alias import ArchiveAlias

__all__ = ["ArchiveAlias", "errors", "routers"]

# Routers whose paths are relative to the data root; each is served under both roots.
DATA_ROUTERS: tuple[APIRouter, ...] = (
    auth.router,
    site.router,
    elements.router,
    projects.router,
    subjects.router,
    # Resources and files before experiments and scans: their paths go deeper.
    resources.router,
    files.router,
    experiments.router,
    scans.router,
    # Import and prearchive
    imports.router,
    prearchive.router,
    prearchive_files.router,
    prearchive_services.router,
)


def routers() -> list[APIRouter]:
    """``/data``, ``/REST`` (the same routes, out of the OpenAPI page) and ``/xapi``."""
    data = APIRouter(prefix="/data", tags=["XNAT-compatible"])
    rest = APIRouter(prefix="/REST", include_in_schema=False)
    for sub in DATA_ROUTERS:
        data.include_router(sub)
        rest.include_router(sub)
    return [data, rest, site.xapi, schemas.router]
