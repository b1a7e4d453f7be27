"""Who is acting: a signed-in user, an anonymous visitor, or the system itself."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True, slots=True)
class Actor:
    user_id: int | None
    login: str
    is_site_admin: bool = False
    is_system: bool = False
    address: str | None = None  # where the request came from, for the audit log
    # How the actor proved who they are: "password", "token", "session" (or None).
    via: str | None = None
    login_session_id: int | None = None

    @property
    def is_anonymous(self) -> bool:
        return self.user_id is None and not self.is_system

    def at(self, address: str | None) -> Actor:
        return replace(self, address=address)


ANONYMOUS = Actor(user_id=None, login="anonymous")
# Internal work (the DICOM receiver, pipelines, migrations) bypasses access checks; it is
# always passed explicitly, never a default.
SYSTEM = Actor(user_id=None, login="system", is_site_admin=True, is_system=True)
