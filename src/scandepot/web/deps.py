"""Who is looking at a page, and the CSRF check of the forms they send.

Pages are for browsers: the session cookie comes first. A state-changing form carries the
session's CSRF token in the hidden field ``csrf_token`` (or the ``X-CSRF-Token`` header,
for scripts on the pages), checked with the same function the API uses
(:mod:`scandepot.http.deps`). A cookie whose session has ended makes the visitor
anonymous, so that pages ask them to sign in again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from pydantic import ValidationError
from starlette.datastructures import FormData

from scandepot.access import logins
from scandepot.access.actors import ANONYMOUS, Actor
from scandepot.errors import Conflict, Invalid, NotFound, ScandepotError
from scandepot.http.deps import CtxDep, check_csrf, client_address, get_actor, signed_in

__all__ = [
    "CSRF_FIELD",
    "CtxDep",
    "Posted",
    "PostedDep",
    "Visitor",
    "VisitorDep",
    "get_visitor",
    "mistake",
    "posted",
    "words",
]

CSRF_FIELD = "csrf_token"


@dataclass(frozen=True, slots=True)
class Visitor:
    actor: Actor
    csrf_token: str | None = None  # for the forms of the page, when signed in by cookie

    @property
    def signed_in(self) -> bool:
        return not self.actor.is_anonymous


def get_visitor(request: Request) -> Visitor:
    if request.cookies.get(logins.COOKIE) and "authorization" not in request.headers:
        resolved = signed_in(request)
        if resolved is None:
            return Visitor(ANONYMOUS.at(client_address(request)))
        return Visitor(resolved.actor, resolved.csrf_token)
    return Visitor(get_actor(request))


@dataclass(frozen=True, slots=True)
class Posted:
    visitor: Visitor
    form: FormData

    @property
    def actor(self) -> Actor:
        return self.visitor.actor

    def text(self, name: str) -> str | None:
        """A text field, stripped; ``None`` when absent or empty."""
        value = self.form.get(name)
        if not isinstance(value, str):
            return None
        return value.strip() or None

    def flag(self, name: str) -> bool:
        return self.form.get(name) in ("on", "true", "1", "yes")

    def lines(self, name: str, *, commas: bool = False) -> list[str]:
        """One value per line of a text area (or per comma too), blanks left out."""
        raw = self.text(name) or ""
        if commas:
            raw = raw.replace(",", "\n")
        return [line.strip() for line in raw.splitlines() if line.strip()]

    def values(self, name: str) -> list[str]:
        return [v for v in self.form.getlist(name) if isinstance(v, str) and v]


async def posted(request: Request) -> AsyncIterator[Posted]:
    visitor = get_visitor(request)
    form = await request.form()
    try:
        if visitor.csrf_token is not None:
            given = form.get(CSRF_FIELD)
            check_csrf(request, visitor.csrf_token, given if isinstance(given, str) else None)
        yield Posted(visitor, form)
    finally:
        await form.close()  # the files of a multipart form, refused or read


VisitorDep = Annotated[Visitor, Depends(get_visitor)]
PostedDep = Annotated[Posted, Depends(posted)]


def words(exc: Exception) -> str:
    """What went wrong, in a sentence for the page."""
    if isinstance(exc, ScandepotError):
        return exc.message
    if isinstance(exc, ValidationError):
        found = exc.errors()
        if not found:
            return "Invalid input."
        where = ".".join(str(p) for p in found[0]["loc"])
        message = str(found[0]["msg"])
        return f"{where}: {message}" if where else message
    return str(exc)


def mistake(exc: Exception) -> bool:
    """An error in what was typed, told on the form's own page; anything else (a refusal,
    something that is not there) is an error page."""
    if isinstance(exc, Invalid | Conflict | ValidationError):
        return True
    return isinstance(exc, NotFound) and exc.field in ("login", "pipeline")
