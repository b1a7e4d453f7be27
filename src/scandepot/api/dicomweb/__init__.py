"""DICOMweb (PS3.18): STOW-RS, QIDO-RS and WADO-RS under two service roots, and WADO-URI.

``/dicomweb/projects/{project}`` is one project's view (STOW stores into it);
``/dicomweb`` is the site-wide view of everything the caller may read. The same routes
serve both: :mod:`.deps` turns the path into a :class:`scandepot.query.scope.Scope`.
docs/dicomweb.md is the conformance statement.
"""

from __future__ import annotations

from fastapi import APIRouter

from scandepot.api.dicomweb import qido, stow, wado, wado_uri

ROOTS = ("/dicomweb", "/dicomweb/projects/{project}")

# Each module's routes, mounted under both roots; WADO-URI has one address of its own.
_UNDER_ROOTS: list[APIRouter] = [stow.router, qido.router, wado.router]
_OWN: list[APIRouter] = [wado_uri.router]

router = APIRouter()
for _root in ROOTS:
    for _sub in _UNDER_ROOTS:
        router.include_router(_sub, prefix=_root)
for _sub in _OWN:
    router.include_router(_sub)
