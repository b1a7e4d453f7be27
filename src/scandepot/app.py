"""create_app(settings): routers, middleware, error mapping. Wiring only.

The routes, middleware and error pages do not depend on the context; :func:`attach` points
an application at one. FastAPI works out each route's dependencies on the first request an
application serves (a few hundred milliseconds for all of them), so a test suite builds the
application once and attaches each test's context to it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from scandepot import __version__, processes, web
from scandepot.api import datalad, dicomweb, health, v1, xnat
from scandepot.context import Context
from scandepot.http import errors
from scandepot.http.limits import RequestLimits
from scandepot.settings import Settings
from scandepot.web.errors import render as error_page


def create_app(
    settings: Settings | None = None,
    *,
    ctx: Context | None = None,
    install_pipelines: bool = True,
) -> FastAPI:
    """The ASGI application. Pass ``ctx`` to share a context (and its engine) with the
    caller; pass ``install_pipelines=False`` when the caller installs what the process
    follows itself (:mod:`scandepot.processes`: ``scandepot serve``)."""
    settings = settings or (ctx.settings if ctx else Settings())
    context = ctx or Context.from_settings(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        if ctx is None:  # made here, so closed here
            app.state.ctx.close()

    app = FastAPI(
        title="scandepot",
        version=__version__,
        summary="A research imaging archive.",
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    attach(app, context, install_pipelines=install_pipelines)
    errors.install(app, pages=(xnat.errors.render, error_page))
    app.include_router(health.router)
    app.include_router(v1.router)
    app.include_router(dicomweb.router)
    app.include_router(datalad.router)
    for router in xnat.routers():
        app.include_router(router)
    web.install(app)
    app.add_middleware(
        RequestLimits,
        max_bytes=settings.max_request_bytes,
        max_header_bytes=settings.max_header_bytes,
    )
    return app


def attach(app: FastAPI, context: Context, *, install_pipelines: bool = True) -> None:
    """Point ``app`` at ``context``: the services its routes call, and what follows its
    events as in every process (:func:`scandepot.processes.follow`: the pipelines, scan
    pictures and DICOMweb metadata of its archived sessions)."""
    app.state.ctx = context
    # What runs on threads of its own after an archive, for callers that wait for it.
    app.state.after_archive = ()
    if install_pipelines:
        following = processes.follow(context)
        app.state.thumbnails, app.state.metadata = following.after_archive
        app.state.after_archive = following.after_archive
