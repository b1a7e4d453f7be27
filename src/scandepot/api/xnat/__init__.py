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
    search,
    shares,
    site,
    subjects,
)

__all__ = ["errors", "routers"]

# Routers whose paths are relative to the data root; each is served under both roots.
DATA_ROUTERS: tuple[APIRouter, ...] = (
    auth.router,
    site.router,
    elements.router,
    projects.router,
    subjects.router,
    shares.router,
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
    search.router,
)


# The data root's other names, served with the same routes, out of the OpenAPI page: /REST
# is XNAT's older name of /data, and .../archive its longer one (xnatpy builds every URL
# of the archive so: /data/archive/projects/...).
ALIASES = ("/REST", "/data/archive", "/REST/archive")


def routers() -> list[APIRouter]:
    """``/data`` and its other names, and ``/xapi``."""
    data = APIRouter(prefix="/data", tags=["XNAT-compatible"])
    aliases = [APIRouter(prefix=prefix, include_in_schema=False) for prefix in ALIASES]
    for sub in DATA_ROUTERS:
        for root in (data, *aliases):
            root.include_router(sub)
    # No route of the data root starts with a parameter, so none takes an alias's path.
    return [data, *aliases, site.xapi, schemas.router]
