"""What the commands that talk to a server share: where it is, the API token, errors.

The token comes from ``--token-file``, else ``$SCANDEPOT_TOKEN``, else the credentials
file that ``scandepot login`` writes (``$XDG_CONFIG_HOME/scandepot/credentials.json``,
readable by its owner only), which also remembers the server's address. A password is
never taken on the command line, where other users could see it in the process list.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import httpx
import typer

TOKEN_ENV = "SCANDEPOT_TOKEN"
URL_ENV = "SCANDEPOT_URL"
DEFAULT_URL = "http://127.0.0.1:8080"
CHUNK = 1024 * 1024
URL_HELP = (
    f"The server's address (default: ${URL_ENV}, the one `scandepot login` saved, "
    f"or {DEFAULT_URL})."
)
TOKEN_HELP = (
    f"File holding an API token (default: ${TOKEN_ENV}, or the one `scandepot login` saved)."
)


class Refused(Exception):
    """The server said no, or cannot be asked: the command stops."""


class Incomplete(Exception):
    """A transfer ended early; what got across is kept for the next run to resume from."""


def file_sha256(path: Path) -> str:
    """The SHA-256 of a local file, the checksum the server catalogues."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class Remote:
    url: str
    token: str | None

    def client(self, *, connections: int = 4, timeout: float = 60) -> httpx.Client:
        headers = {"authorization": f"Bearer {self.token}"} if self.token else {}
        return httpx.Client(
            base_url=self.url,
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=10),
            limits=httpx.Limits(max_connections=connections + 1),
        )


def credentials_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "scandepot" / "credentials.json"


def save_credentials(url: str, token: str) -> Path:
    path = credentials_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"url": url, "token": token}, fh)
        fh.write("\n")
    os.replace(tmp, path)
    return path


def _saved() -> dict[str, str]:
    path = credentials_path()
    if not path.exists():
        return {}
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise Refused(f"cannot read {path}: {exc}; run `scandepot login` again") from None
    return {k: v for k, v in saved.items() if isinstance(v, str)} if isinstance(saved, dict) else {}


def resolve(url: str | None, token_file: Path | None) -> Remote:
    """The server and token in force (see the module docstring)."""
    saved = _saved()
    token: str | None
    if token_file is not None:
        try:
            token = token_file.read_text().strip() or None
        except OSError as exc:
            raise Refused(f"cannot read the token file {token_file}: {exc.strerror}") from None
    else:
        token = os.environ.get(TOKEN_ENV) or saved.get("token") or None
    return Remote(url or os.environ.get(URL_ENV) or saved.get("url") or DEFAULT_URL, token)


def error_message(response: httpx.Response) -> str:
    try:
        error = response.json()["error"]
        return f"{response.status_code} {error['message']}"
    except (ValueError, KeyError, TypeError):
        return f"{response.status_code} {response.reason_phrase}"


# What the commands that talk to a server share: exit 2 when the server (or what was
# given) refuses, with the reason on stderr.
REFUSED = 2


def fail(message: str, code: int = REFUSED) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def remote_or_fail(url: str | None, token_file: Path | None) -> Remote:
    try:
        return resolve(url, token_file)
    except Refused as exc:
        fail(str(exc))


def call(client: httpx.Client, method: str, path: str, **kwargs: Any) -> httpx.Response:
    try:
        return client.request(method, path, **kwargs)
    except httpx.TransportError as exc:
        fail(f"cannot reach the server: {exc}")


def answer_json(response: httpx.Response, *ok: int) -> dict[str, Any]:
    """The answer's JSON object when its status is one of ``ok``; else exit with it."""
    if response.status_code not in ok:
        fail(error_message(response))
    found: dict[str, Any] = response.json()
    return found


def labels(values: list[str]) -> list[str]:
    """Values given once each, or comma-separated, or both."""
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


def print_details(response: httpx.Response) -> None:
    """Each itemised reason of a refusal (every bad row of a table), one line each."""
    try:
        details = response.json()["error"].get("details") or []
    except (ValueError, KeyError, TypeError, AttributeError):
        return
    for item in details:
        typer.echo(f"  {item.get('name', '')}: {item.get('reason', '')}", err=True)


def request(
    url: str | None,
    token_file: Path | None,
    method: str,
    path: str,
    *ok: int,
    timeout: float = 60,
    **kwargs: Any,
) -> httpx.Response:
    """One request to the server on a client of its own; the answer when its status is
    one of ``ok``, else exit 2 with the server's reason and its itemised details."""
    remote = remote_or_fail(url, token_file)
    with remote.client(timeout=timeout) as client:
        response = call(client, method, path, **kwargs)
    if response.status_code not in ok:
        print_details(response)
        fail(error_message(response))
    return response
