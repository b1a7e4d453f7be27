"""The web interface: server-rendered pages over the same services as the API.

Every page is a few lines: read the visitor and the input, call the services (which check
permissions through access/permissions.py), render a template. Pages stay out of the
OpenAPI document; tests/access/test_matrix.py checks who may see each of them.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

from scandepot.web import (
    admin,
    auth,
    catalogue,
    clinical,
    dataset_steps,
    deid,
    my_datasets,
    notifications,
    prearchive,
    projects,
    push_destinations,
    pushes,
    retention,
    selections,
    sessions,
    shares,
    transfer,
    transfers,
    viewer,
    webhooks,
)
from scandepot.web.render import HERE

router = APIRouter(include_in_schema=False)
for _module in (
    auth,
    projects,
    notifications,
    sessions,
    shares,
    prearchive,
    transfer,
    transfers,
    selections,
    pushes,
    admin,
    retention,
    push_destinations,
    viewer,
    webhooks,
    deid,
    clinical,
    catalogue,
    my_datasets,
    dataset_steps,
):
    router.include_router(_module.router)


def install(app: FastAPI) -> None:
    """Mount the pages and static files. Errors become pages through
    :func:`scandepot.web.errors.render`, given to :func:`scandepot.http.errors.install`."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
