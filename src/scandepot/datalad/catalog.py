"""Placeholder: the project's catalog pages."""

from __future__ import annotations

from pathlib import Path

from scandepot.access.actors import Actor
from scandepot.context import Context
from scandepot.errors import NotFound


def page(ctx: Context, actor: Actor, project: str, path: str) -> Path:
    raise NotFound("No catalog.")
