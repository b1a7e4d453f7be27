"""Domain errors, raised by services; each knows the HTTP status it stands for.

Services never build HTTP responses: :mod:`scandepot.http.errors` turns an error into
one, for the API (JSON) and the pages alike; the CLI maps the same errors to exit codes.
"""

from __future__ import annotations


class ScandepotError(Exception):
    """Base of every error a client may see. ``code`` is stable and machine-readable."""

    code = "error"
    status = 500  # the HTTP status code of a response that reports it

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        details: list[dict[str, str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        # Itemised reasons (e.g. each refused member of an upload), when there are several.
        self.details = details


class Unauthorized(ScandepotError):
    """The request needs a signed-in user (or the credentials were wrong)."""

    code = "unauthorized"
    status = 401

    def __init__(self, message: str = "Authentication required.") -> None:
        super().__init__(message)


class Forbidden(ScandepotError):
    code = "forbidden"
    status = 403

    def __init__(self, message: str = "You do not have permission to do this.") -> None:
        super().__init__(message)


class NotFound(ScandepotError):
    code = "not_found"
    status = 404


class Invalid(ScandepotError):
    """Input that breaks a rule; ``field`` names the input that was wrong."""

    code = "invalid"
    status = 422


class BadRequest(Invalid):
    """A request the service cannot read at all (a query parameter of the wrong syntax,
    an unknown query key): HTTP 400 rather than 422, as PS3.18 asks of searches."""

    code = "bad_request"
    status = 400


class NotAcceptable(ScandepotError):
    """No media type the service can answer in is acceptable to the client (Accept)."""

    code = "not_acceptable"
    status = 406


class Conflict(ScandepotError):
    """The request is well formed but clashes with what is stored (duplicates, non-empty)."""

    code = "conflict"
    status = 409


class TooLarge(ScandepotError):
    code = "too_large"
    status = 413


class Unsupported(ScandepotError):
    """Content of a kind the service does not take (e.g. an upload that is no archive)."""

    code = "unsupported_media_type"
    status = 415


class Unavailable(ScandepotError):
    """A part the server stands on (the catalog database) cannot be reached for now:
    nothing was changed, and the same request can succeed shortly (HTTP 503)."""

    code = "unavailable"
    status = 503


class OutOfSpace(ScandepotError):
    """The file store's disk (or the service account's quota) is full: nothing was kept,
    and the same request can succeed once space is freed (HTTP 507, RFC 4918 §11.5)."""

    code = "insufficient_storage"
    status = 507

    def __init__(
        self,
        message: str = "The server is out of storage space; nothing was stored. "
        "Try again once an administrator has freed space.",
    ) -> None:
        super().__init__(message)
