"""User accounts: the first site admin, look-ups and sign-in by password."""

from __future__ import annotations

from sqlalchemy import func, select

from scandepot.access.actors import Actor
from scandepot.access.models import User
from scandepot.access.passwords import generate_password, hash_password, verify_password
from scandepot.context import Context

ADMIN_LOGIN = "admin"


def actor_for(user: User) -> Actor:
    return Actor(user_id=user.id, login=user.login, is_site_admin=user.is_site_admin)


def ensure_admin(ctx: Context) -> str | None:
    """Create the ``admin`` account on first start.

    Returns the generated password when one had to be made (to be shown once), else None.
    """
    with ctx.db.write() as db:
        if db.scalar(select(func.count(User.id)).where(User.is_site_admin.is_(True))):
            return None
        configured = ctx.settings.admin_password
        password = configured.get_secret_value() if configured else generate_password()
        db.add(
            User(
                login=ADMIN_LOGIN,
                full_name="Site administrator",
                password_hash=hash_password(password),
                is_site_admin=True,
            )
        )
    return None if configured else password


def authenticate_password(ctx: Context, login: str, password: str) -> Actor | None:
    """The actor for ``login`` if the password is right and the account enabled."""
    with ctx.db.read() as db:
        user = db.scalar(select(User).where(User.login == login))
    ok = verify_password(user.password_hash if user else None, password)
    if user is None or not ok or not user.enabled:
        return None
    return actor_for(user)
