"""Who is acting: a signed-in user, an anonymous visitor, or the system itself."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Actor:
    user_id: int | None
    login: str
    is_site_admin: bool = False
    is_system: bool = False

    @property
    def is_anonymous(self) -> bool:
        return self.user_id is None and not self.is_system


ANONYMOUS = Actor(user_id=None, login="anonymous")
# Internal work (the DICOM receiver, pipelines, migrations) bypasses access checks; it is
# always passed explicitly, never a default.
SYSTEM = Actor(user_id=None, login="system", is_site_admin=True, is_system=True)
