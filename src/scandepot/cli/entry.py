"""The ``scandepot`` command's entry point.

The commands that talk to a server from a user's computer (``upload``, ``download``,
``login``, ``transfer``, ``deid-script``, ``pseudonym``) are dispatched to an app of their
own, which does not import the server's parts (the catalog, the web application, the
receiver, the pipelines): they start in half a second instead of two. Every other
command goes to the full app.
"""

from __future__ import annotations

import sys

CLIENT_COMMANDS = frozenset({"upload", "download", "login", "transfer", "deid-script", "pseudonym"})


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] in CLIENT_COMMANDS:
        from scandepot.cli.client import app
    else:
        from scandepot.cli.main import app
    app()
