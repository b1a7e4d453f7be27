"""Templates, their filters, and the one-line message carried to the next page."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.templating import Jinja2Templates

from scandepot import __version__
from scandepot.web.deps import Visitor, mistake, words
from scandepot.web.ohif import view_url

HERE = Path(__file__).resolve().parent
FLASH = "scandepot_flash"

templates = Jinja2Templates(directory=HERE / "templates")


def size(value: int | None) -> str:
    """Bytes for people: 1.5 MB (powers of 1000, as file managers show them)."""
    if value is None:
        return ""
    amount = float(value)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if amount < 1000 or unit == "TB":
            return f"{int(amount)} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1000
    return f"{value} B"  # pragma: no cover - the loop always returns


def when(value: dt.datetime | None) -> str:
    """A UTC timestamp to the minute, as stored."""
    if value is None:
        return ""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def number(value: float | int | None) -> str:
    if value is None:
        return "–"
    if isinstance(value, int):
        return str(value)
    return f"{value:.4g}"


def query(base: dict[str, Any], **changes: Any) -> str:
    """The query string of ``base`` with ``changes``; empty values are left out."""
    merged = {**base, **changes}
    return urlencode({k: v for k, v in merged.items() if v not in (None, "")})


templates.env.filters.update(size=size, when=when, number=number)
templates.env.globals.update(version=__version__, query=query, view_url=view_url)
# A pipeline parameter shown as a checkbox rather than a text field.
templates.env.tests["flag_field"] = lambda spec: getattr(spec, "annotation", None) is bool


def page(
    request: Request,
    visitor: Visitor,
    name: str,
    *,
    status: int = 200,
    title: str = "",
    **context: Any,
) -> HTMLResponse:
    flash = request.cookies.get(FLASH)
    message = None
    if flash:
        kind, _, text = unquote(flash).partition(":")
        message = {"kind": kind if kind in ("ok", "error") else "ok", "text": text[:2000]}
    response = templates.TemplateResponse(
        request,
        name,
        {"visitor": visitor, "actor": visitor.actor, "title": title, "flash": message, **context},
        status_code=status,
    )
    response.headers["cache-control"] = "no-store"
    if flash:
        response.delete_cookie(FLASH, path="/")
    return response


def back_to_form(back: str, exc: Exception) -> RedirectResponse:
    """Back to the form's page at ``back``, telling what was typed wrong; anything else (a
    refusal, something that is not there) is raised on, for the error page."""
    if not mistake(exc):
        raise exc
    return redirect(back, error=words(exc))


def redirect(url: str, *, ok: str | None = None, error: str | None = None) -> RedirectResponse:
    """See Other to ``url``, with a message for the page found there."""
    response = RedirectResponse(url, status_code=303)
    if ok or error:
        text = f"ok:{ok}" if ok else f"error:{error}"
        response.set_cookie(FLASH, quote(text[:1500]), httponly=True, samesite="lax", path="/")
    return response
