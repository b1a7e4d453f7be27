"""What ``scandepot upload`` asked for, and whether the server holds each file there.

The server answers where it holds an instance with given bytes (``prearchive:<id>`` or
``archive:<session ID>``); a file held under other labels than ``--subject`` and
``--session``, or still in the prearchive after ``--to archive``, is not where the user
asked for it, and is not counted as done.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
import typer

from scandepot.cli.local_dicom import Found
from scandepot.cli.remote import Refused, error_message
from scandepot.ingest.modes import Destination

HELD_BATCH = 5000
_PAGE = 1000


@dataclass(frozen=True, slots=True)
class Asked:
    project: str
    to: Destination
    subject: str | None = None
    session: str | None = None

    def labels(self, subject: str | None, session: str | None) -> bool:
        """Whether ``subject`` and ``session`` are the ones asked for, ignoring case as
        the server compares labels."""
        return _same(self.subject, subject) and _same(self.session, session)


def _same(asked: str | None, held: str | None) -> bool:
    return asked is None or (held is not None and asked.lower() == held.lower())


@dataclass
class Places:
    """Looks up (once each) the labels of the places the server names."""

    client: httpx.Client
    asked: Asked
    _fits: dict[str, bool] = field(default_factory=dict)
    _archived: set[str] | None = None

    def fits(self, where: str, *, archived_only: bool = False) -> bool:
        kind, _, ident = where.partition(":")
        if archived_only and kind != "archive":
            return False
        if self.asked.subject is None and self.asked.session is None:
            return True
        if where not in self._fits:
            if kind == "prearchive":
                self._fits[where] = self._staged_fits(ident)
            else:
                self._fits[where] = ident in self._archived_ids()
        return self._fits[where]

    def _get(self, url: str, **params: Any) -> Any:
        try:
            response = self.client.get(url, params=params)
        except httpx.TransportError as exc:
            raise Refused(f"cannot reach the server: {exc}") from None
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise Refused(error_message(response))
        return response.json()

    def _staged_fits(self, staged_id: str) -> bool:
        staged = self._get(f"/api/v1/prearchive/{staged_id}")
        return staged is not None and self.asked.labels(staged["subject"], staged["session"])

    def _archived_ids(self) -> set[str]:
        """The IDs of the archived sessions that carry the labels asked for."""
        if self._archived is None:
            base = f"/api/v1/projects/{self.asked.project}/sessions"
            if self.asked.session is not None:
                one = self._get(f"{base}/{self.asked.session}")
                found = [one] if one is not None else []
            else:
                found, offset = [], 0
                while True:
                    page = self._get(base, subject=self.asked.subject, limit=_PAGE, offset=offset)
                    found += page["items"] if page else []
                    offset += _PAGE
                    if not page or offset >= page["total"]:
                        break
            self._archived = {s["id"] for s in found if self.asked.labels(s["subject"], s["label"])}
        return self._archived


def held(client: httpx.Client, project: str, files: list[Found]) -> dict[str, tuple[str, str]]:
    """SOP Instance UID -> (SHA-256, where) for what the server holds of ``files``."""
    found: dict[str, tuple[str, str]] = {}
    for start in range(0, len(files), HELD_BATCH):
        batch = files[start : start + HELD_BATCH]
        try:
            response = client.post(
                f"/api/v1/projects/{project}/held",
                json={
                    "instances": [
                        {"SOPInstanceUID": f.SOPInstanceUID, "sha256": f.sha256} for f in batch
                    ]
                },
            )
        except httpx.TransportError as exc:
            raise Refused(f"cannot reach the server: {exc}") from None
        if response.status_code != 200:
            raise Refused(error_message(response))
        for item in response.json()["held"]:
            found[item["SOPInstanceUID"]] = (item["sha256"], item["where"])
    return found


def verified(
    f: Found, after: dict[str, tuple[str, str]], places: Places, archived_only: bool
) -> bool:
    sha256, where = after.get(f.SOPInstanceUID, ("", ""))
    return sha256 == f.sha256 and places.fits(where, archived_only=archived_only)


def report(
    bad: list[Found], files: list[Found], after: dict[str, tuple[str, str]], *, refused: bool
) -> int:
    """Name what is not where it was asked for; suggest a rerun only when it can help."""
    if refused:
        # The refusal, printed above, is the message: another run meets it again.
        typer.echo(
            f"{len(bad)} of {len(files)} file(s) not where you asked: the server refused "
            "(see above)."
        )
        return 2
    elsewhere = [f for f in bad if after.get(f.SOPInstanceUID, ("", ""))[0] == f.sha256]
    for f in bad[:20]:
        if f in elsewhere:
            where = after[f.SOPInstanceUID][1]
            typer.echo(f"held under other labels or not archived ({where}): {f.shown}", err=True)
        else:
            typer.echo(f"not on the server with these bytes: {f.shown}", err=True)
    if len(elsewhere) == len(bad):
        typer.echo(
            f"{len(bad)} of {len(files)} file(s) are on the server, but not where you asked; "
            "move or archive them there (scandepot prearchive, or the web pages)."
        )
    else:
        typer.echo(f"{len(bad)} of {len(files)} file(s) not verified; run again to resume.")
    return 1
