"""What a push destination's fields may hold, checked together: each kind's address, the
credentials, the TLS files, the script, the clinical data. Each error names its field."""

from __future__ import annotations

import os
import re
import ssl
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

from scandepot.catalog.push import NAME_LENGTH, DestinationKind
from scandepot.deid import manage as deid_manage
from scandepot.errors import Invalid
from scandepot.push import secrets
from scandepot.push.http_peer import HttpPeer, tls_context

URL_LENGTH = 1024
MAX_CONCURRENCY = 32
# PS3.5 6.2: AE, 16 characters of the default repertoire, no backslash.
_AE_TITLE = re.compile(r"[\x20-\x5b\x5d-\x7e]{1,16}")
_NAME = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._-]{{0,{NAME_LENGTH - 1}}}")
_HOST = re.compile(r"[A-Za-z0-9._:\[\]-]{1,255}")

Kind = Literal["dicomweb", "dimse", "xnat"]
Auth = Literal["none", "basic", "bearer"]
ScriptKindName = Literal["profile", "ctp"]
Clinical = Literal["", "rest", "xnat"]


class DestinationFields(BaseModel):
    """Every field of a destination but its name, kind and projects; the secret in clear
    (``secret``) or by the environment variable that holds it (``secret_env``)."""

    model_config = ConfigDict(extra="forbid")

    description: str = Field(default="", max_length=255)
    url: str | None = None
    ae_title: str | None = None
    host: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    calling_ae: str | None = None
    remote_project: str | None = Field(default=None, max_length=NAME_LENGTH)
    auth: Auth = "none"
    username: str | None = Field(default=None, max_length=255)
    secret: str | None = None
    secret_env: str | None = None
    verify_tls: bool = True
    ca_bundle: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    external: bool = True
    script_kind: ScriptKindName | None = None
    script_text: str = ""
    script_pixel_text: str = ""
    concurrency: int = Field(default=4, ge=1, le=MAX_CONCURRENCY)
    max_attempts: int = Field(default=12, ge=1, le=100)
    clinical: Clinical = ""
    clinical_url: str | None = None
    enabled: bool = True


def checked_name(value: str) -> str:
    name = value.strip()
    if not _NAME.fullmatch(name):
        raise Invalid(
            f"A destination's name is 1 to {NAME_LENGTH} letters, digits, '.', '_' or '-', "
            "starting with a letter or digit.",
            field="name",
        )
    return name


def checked_url(value: str, *, field: str = "url") -> str:
    """http or https, a host, no user name or password, no spaces."""
    text = value.strip()
    if not text or len(text) > URL_LENGTH:
        raise Invalid(f"The URL must be 1 to {URL_LENGTH} characters.", field=field)
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise Invalid("The URL must not contain spaces or control characters.", field=field)
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - a port that is not a number raises here
    except ValueError as exc:
        raise Invalid(f"'{text[:200]}' is not a URL: {exc}", field=field) from None
    if parts.scheme.lower() not in ("http", "https"):
        raise Invalid(
            f"The URL must start with http:// or https:// (not '{text[:200]}').", field=field
        )
    if not parts.hostname:
        raise Invalid(f"The URL must name a host (not '{text[:200]}').", field=field)
    if parts.username is not None or parts.password is not None:
        raise Invalid(
            "The URL must not hold a user name or password: give them as username and secret.",
            field=field,
        )
    if parts.query or parts.fragment:
        raise Invalid("The URL must not have a query (?) or a fragment (#).", field=field)
    return text.rstrip("/")


def checked_ae_title(value: str, field: str) -> str:
    title = value.strip()
    if not _AE_TITLE.fullmatch(title):
        raise Invalid(
            f"{field} must be 1 to 16 printable ASCII characters, no backslash.", field=field
        )
    return title


def _readable_file(value: str, field: str) -> str:
    path = Path(value.strip())
    if not path.is_absolute():
        raise Invalid(f"{field} must be an absolute path (not '{value[:200]}').", field=field)
    if not path.is_file() or not os.access(path, os.R_OK):
        raise Invalid(f"{field}: '{path}' is not a file this server can read.", field=field)
    return str(path)


def _blank(value: str | None) -> str | None:
    return value.strip() if value is not None and value.strip() else None


def checked(kind: str, data: DestinationFields, *, secret_kept: bool = False) -> DestinationFields:
    """``data`` made canonical (blank strings as None, URLs without a trailing slash),
    or :class:`Invalid` naming the field. ``secret_kept``: a stored secret stays."""
    out = data.model_copy()
    for name in ("url", "ae_title", "host", "calling_ae", "remote_project", "username"):
        setattr(out, name, _blank(getattr(out, name)))
    for name in ("secret_env", "ca_bundle", "client_cert", "client_key", "clinical_url"):
        setattr(out, name, _blank(getattr(out, name)))
    if out.secret == "":
        out.secret = None
    out.description = out.description.strip()
    if kind == DestinationKind.DIMSE:
        _check_dimse(out)
    else:
        _check_http(kind, out, secret_kept)
    _check_script(out)
    _check_clinical(kind, out)
    return out


def _check_dimse(out: DestinationFields) -> None:
    if out.ae_title is None or out.host is None or out.port is None:
        raise Invalid("A dimse destination needs ae_title, host and port.", field="ae_title")
    out.ae_title = checked_ae_title(out.ae_title, "ae_title")
    if out.calling_ae is not None:
        out.calling_ae = checked_ae_title(out.calling_ae, "calling_ae")
    if not _HOST.fullmatch(out.host):
        raise Invalid(f"host '{out.host[:100]}' is not a host name or address.", field="host")
    for name in ("url", "remote_project", "username", "secret", "secret_env", "ca_bundle"):
        if getattr(out, name) is not None:
            raise Invalid(f"{name} is not for a dimse destination.", field=name)
    if out.client_cert or out.client_key or out.auth != "none":
        raise Invalid("A dimse destination takes no credentials or TLS files.", field="auth")


def _check_http(kind: str, out: DestinationFields, secret_kept: bool) -> None:
    if out.url is None:
        raise Invalid(f"A {kind} destination needs a url.", field="url")
    out.url = checked_url(out.url)
    for name in ("ae_title", "host", "port", "calling_ae"):
        if getattr(out, name) is not None:
            raise Invalid(f"{name} is for dimse destinations only.", field=name)
    if kind == DestinationKind.XNAT and out.remote_project is None:
        raise Invalid("An xnat destination needs remote_project.", field="remote_project")
    if kind != DestinationKind.XNAT and out.remote_project is not None:
        raise Invalid("remote_project is for xnat destinations only.", field="remote_project")
    _check_credentials(out, secret_kept)
    _check_tls(out)


def _check_credentials(out: DestinationFields, secret_kept: bool) -> None:
    if out.secret is not None and out.secret_env is not None:
        raise Invalid("Give secret or secret_env, not both.", field="secret_env")
    if out.secret is not None:
        secrets.checked_secret(out.secret)
    if out.secret_env is not None:
        out.secret_env = secrets.checked_env_name(out.secret_env)
    has_secret = out.secret is not None or out.secret_env is not None or secret_kept
    if out.auth == "none":
        if out.username is not None or out.secret is not None or out.secret_env is not None:
            raise Invalid("auth is none: give no username or secret.", field="auth")
        return
    if out.auth == "basic" and out.username is None:
        raise Invalid("auth basic needs a username.", field="username")
    if out.auth == "bearer" and out.username is not None:
        raise Invalid("auth bearer takes no username: the secret is the token.", field="username")
    if not has_secret:
        raise Invalid(f"auth {out.auth} needs a secret or secret_env.", field="secret")


def _check_tls(out: DestinationFields) -> None:
    if out.client_key is not None and out.client_cert is None:
        raise Invalid("client_key goes with client_cert.", field="client_key")
    for name in ("ca_bundle", "client_cert", "client_key"):
        value = getattr(out, name)
        if value is not None:
            setattr(out, name, _readable_file(value, name))
    if out.ca_bundle or out.client_cert:
        assert out.url is not None
        try:
            tls_context(
                HttpPeer(
                    url=out.url,
                    ca_bundle=out.ca_bundle,
                    client_cert=out.client_cert,
                    client_key=out.client_key,
                )
            )
        except (ssl.SSLError, OSError) as exc:  # pragma: no cover - tls_context maps these
            raise Invalid(str(exc), field="ca_bundle") from None


def _check_script(out: DestinationFields) -> None:
    if out.script_kind is None:
        if out.script_text.strip() or out.script_pixel_text.strip():
            raise Invalid("A script needs its script_kind: profile or ctp.", field="script_kind")
        out.script_text = out.script_pixel_text = ""
        return
    deid_manage.check(out.script_kind, out.script_text, out.script_pixel_text)


def _check_clinical(kind: str, out: DestinationFields) -> None:
    if out.clinical == "rest":
        if out.clinical_url is None:
            raise Invalid("clinical rest needs a clinical_url.", field="clinical_url")
        out.clinical_url = checked_url(out.clinical_url, field="clinical_url")
    elif out.clinical_url is not None:
        raise Invalid("clinical_url goes with clinical rest.", field="clinical_url")
    if out.clinical == "xnat" and kind != DestinationKind.XNAT:
        raise Invalid("clinical xnat is for xnat destinations.", field="clinical")
