"""The site's pages as people reach them (``public_url``), for the links in emails and
in webhook bodies: the routes of web/, in one place."""

from __future__ import annotations

from urllib.parse import quote


class Links:
    """The site's pages, as people reach them (``public_url``): the routes of web/."""

    def __init__(self, public_url: str) -> None:
        self.base = public_url.rstrip("/")

    def session(self, project: str, session: str) -> str:
        return f"{self.base}/projects/{quote(project, safe='')}/sessions/{quote(session, safe='')}"

    def staged(self, staged_id: int) -> str:
        return f"{self.base}/prearchive/{staged_id}"

    def job(self, project: str, job_id: int) -> str:
        return f"{self.base}/projects/{quote(project, safe='')}/jobs/{job_id}"

    def dataset(self, stable_id: str, version: int | None) -> str:
        """A dataset's page, or one version's (its stable address)."""
        page = f"{self.base}/datasets/{quote(stable_id, safe='')}"
        return page if version is None else f"{page}/v{version}"
