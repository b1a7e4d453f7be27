"""What XNAT clients ask of the site before anything else: its version and build."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from scandepot import __version__

# The XNAT release whose REST API this one follows; clients choose their code paths by it.
XNAT_VERSION = "1.8.10"

router = APIRouter()
xapi = APIRouter(prefix="/xapi", tags=["XNAT-compatible"])


@router.get("/version", response_class=PlainTextResponse)
def version() -> str:
    return XNAT_VERSION


@xapi.get("/siteConfig/buildInfo")
def build_info() -> dict[str, Any]:
    return {
        "version": XNAT_VERSION,
        "application": "scandepot",
        "scandepotVersion": __version__,
    }
