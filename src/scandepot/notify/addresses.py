"""Email addresses as people type them: checked once, kept in their normal form."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

from scandepot.catalog.notify import ADDRESS_LENGTH
from scandepot.errors import Invalid


def checked(address: str, *, field: str = "address") -> str:
    """``address`` in normal form (the domain in lower case), or Invalid naming ``field``.
    The domain is not looked up: a site's own mail server may know names DNS does not."""
    text = address.strip()
    if not text or len(text) > ADDRESS_LENGTH:
        raise Invalid(f"'{address}' is not an email address.", field=field)
    try:
        found = validate_email(text, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise Invalid(f"'{address}' is not an email address: {exc}", field=field) from None
    return found.normalized
