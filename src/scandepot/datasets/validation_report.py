"""The validation's report, as ``DatasetVersion.validation_report`` keeps it: per check its
outcome, how many it checked, how many problems it found and the first
:data:`SHOWN` of them, itemised; while the job runs, also where it is (``cursor``, the last
manifest row checked), so that a job taken again goes on from there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from scandepot.db.base import utcnow

SHOWN = 100  # problems itemised per check; the count says how many there are
CHECKS = ("deidentified", "clinical", "images", "checksums")
TITLES = {
    "deidentified": "Every DICOM instance de-identified",
    "clinical": "Required clinical variables present",
    "images": "No subject or session without images",
    "checksums": "Files match the manifest (size and SHA-256)",
}


@dataclass
class Tally:
    """One check: ``checked`` things looked at, ``problems`` found, the first few shown."""

    checked: int = 0
    problems: int = 0
    items: list[dict[str, str]] = field(default_factory=list)

    def problem(self, **item: str) -> None:
        self.problems += 1
        if len(self.items) < SHOWN:
            self.items.append(item)

    def to_json(self, name: str, *, done: bool) -> dict[str, Any]:
        outcome = "running" if not done else ("failed" if self.problems else "passed")
        return {
            "title": TITLES[name],
            "outcome": outcome,
            "checked": self.checked,
            "problems": self.problems,
            "shown": len(self.items),
            "items": list(self.items),
        }

    @classmethod
    def from_json(cls, found: Any) -> Tally:
        if not isinstance(found, dict):
            return cls()
        items = [dict(i) for i in found.get("items", []) if isinstance(i, dict)]
        return cls(int(found.get("checked", 0)), int(found.get("problems", 0)), items)


@dataclass
class Progress:
    """Where a validation is, and what it found so far."""

    job: int | None
    started_at: str = field(default_factory=lambda: utcnow().isoformat())
    files_total: int = 0
    cursor: int = 0  # the last DatasetFile.id checked
    files_checked: int = 0
    bytes_checked: int = 0
    seconds: float = 0.0  # spent on the files, over every attempt
    catalog_done: bool = False  # clinical variables and images checked (one query each)
    checks: dict[str, Tally] = field(default_factory=lambda: {c: Tally() for c in CHECKS})

    @property
    def passed(self) -> bool:
        return all(t.problems == 0 for t in self.checks.values())

    def to_json(self, *, done: bool) -> dict[str, Any]:
        rate = self.files_checked / self.seconds if self.seconds > 0 else None
        found: dict[str, Any] = {
            "state": ("passed" if self.passed else "failed") if done else "running",
            "job": self.job,
            "started_at": self.started_at,
            "finished_at": utcnow().isoformat() if done else None,
            "files_total": self.files_total,
            "files_checked": self.files_checked,
            "bytes_checked": self.bytes_checked,
            "files_per_second": round(rate, 1) if rate is not None else None,
            "seconds": round(self.seconds, 3),
            "catalog_done": self.catalog_done,
            "checks": {name: self.checks[name].to_json(name, done=done) for name in CHECKS},
        }
        if not done:
            found["cursor"] = self.cursor
        return found

    @classmethod
    def resumed(cls, job: int, found: Any) -> Progress:
        """The progress a report records for ``job``; a fresh one for any other."""
        if not isinstance(found, dict) or found.get("job") != job or "cursor" not in found:
            return cls(job)
        checks = found.get("checks") or {}
        return cls(
            job,
            started_at=str(found.get("started_at") or utcnow().isoformat()),
            files_total=int(found.get("files_total", 0)),
            cursor=int(found["cursor"]),
            files_checked=int(found.get("files_checked", 0)),
            bytes_checked=int(found.get("bytes_checked", 0)),
            seconds=float(found.get("seconds", 0.0)),
            catalog_done=bool(found.get("catalog_done", False)),
            checks={c: Tally.from_json(checks.get(c)) for c in CHECKS},
        )


def queued(job: int | None) -> dict[str, Any]:
    """The report of a validation queued and not started."""
    return {"state": "queued", "job": job, "queued_at": utcnow().isoformat()}
