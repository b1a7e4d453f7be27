"""The message templates (notify/templates/): plain text, and HTML autoescaped.

A value a template asks for and the view lacks (an event written by an older version, a
template that names a field wrongly) does not stop the message: the gap is rendered as
empty and logged, so that someone can mend the template while the message still goes.
"""

from __future__ import annotations

import logging
from functools import cache
from typing import Any

from jinja2 import (
    ChainableUndefined,
    Environment,
    PackageLoader,
    Undefined,
    make_logging_undefined,
    select_autoescape,
)

log = logging.getLogger("scandepot.notify.templates")

# Logs each use of a missing value ("'dict object' has no attribute 'subject'") and
# renders it as empty; chained look-ups on it (a.b.c) stay empty too.
LoggedUndefined = make_logging_undefined(log, ChainableUndefined)


def many(count: object, word: str) -> str:
    """``1 file``, ``4 files``; a missing count stays a (logged) gap."""
    if isinstance(count, Undefined):
        return f"{count} {word}s".strip()
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("scandepot.notify", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=LoggedUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.globals["many"] = many
    return env


def render(topic: str, **values: Any) -> tuple[str, str]:
    """The plain text and the HTML of a message about ``topic``."""
    env = environment()
    text = env.get_template(f"{topic}.txt").render(**values)
    html = env.get_template(f"{topic}.html").render(**values)
    return text, html
