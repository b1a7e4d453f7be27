"""What the push tests share: a project with archived sessions of real DICOM files (made
through the import) and the Basic profile as its export script, a destination that takes
the project, a way to run queued push jobs in this process, and a small in-test peer for
the logic below the network (retries, back-off, resume bookkeeping)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from scandepot.access.users import actor_for
from scandepot.catalog.access import User
from scandepot.catalog.archive import Project
from scandepot.catalog.pipelines import JobStatus
from scandepot.catalog.prearchive import Instance
from scandepot.catalog.push import PushDestination, PushDestinationProject
from scandepot.context import Context
from scandepot.dicom.synthetic import Study
from scandepot.pipelines import queue, runner
from scandepot.push import task
from scandepot.push.sending import Held, Outgoing, Sender, Sent, Unreachable
from tests.export.deid_world import import_session, save_script

BASIC = '{"options": []}'  # the Basic Application Level Confidentiality Profile
PATIENT = {"PatientName": "Smith^John", "PatientID": "MRN123", "AccessionNumber": "ACC9"}


@dataclass
class World:
    ctx: Context
    client: TestClient
    actors: dict[str, Any]
    users: dict[str, User]
    project: str
    tmp: Path
    studies: dict[str, Study] = field(default_factory=dict)

    def session(self, subject: str, session: str, **patient: str) -> Study:
        """Archive a session of two MR series, three instances each."""
        study = Study(**{**PATIENT, **patient})
        import_session(
            self.client, self.actors["owner"], self.tmp, self.project, subject, session, study
        )
        self.studies[session] = study
        return study

    def series_uids(self) -> set[str]:
        """The Series Instance UIDs as stored."""
        with self.ctx.db.read() as db:
            return set(db.scalars(select(Instance.SeriesInstanceUID)))

    def actor(self, name: str = "owner") -> Any:
        return actor_for(self.users[name])

    def destination(self, name: str = "node", **fields: Any) -> str:
        """A destination that takes the project (``allowed=False``: that does not)."""
        allowed = fields.pop("allowed", True)
        with self.ctx.db.write() as db:
            dest = PushDestination(
                name=name,
                kind=fields.pop("kind", "dicomweb"),
                url=fields.pop("url", "http://127.0.0.1:9/dicom-web"),
                created_by="admin",
                **{"concurrency": 2, "max_attempts": 4, **fields},
            )
            db.add(dest)
            db.flush()
            if allowed:
                project_id = db.scalar(select(Project.id).where(Project.label == self.project))
                db.add(
                    PushDestinationProject(
                        destination_id=dest.id, project_id=project_id, created_by="admin"
                    )
                )
        return name


@pytest.fixture
def world(
    ctx: Context,
    client: TestClient,
    actors: dict[str, Any],
    users: dict[str, User],
    make_project: Callable[..., str],
    tmp_path: Path,
) -> World:
    """A project with the Basic profile as its export script, and E1 of S1 archived."""
    ctx.settings.prearchive_quiet_s = 3600  # only the import itself builds
    ctx.settings.push_retry_s = 0.05
    w = World(ctx, client, actors, users, make_project(upload_destination="archive"), tmp_path)
    save_script(w.ctx, w.project, text=BASIC, kind="profile")
    w.session("S1", "E1")
    return w


class Peer:
    """An in-test far side: keeps what it is sent (by study), counts every send of each
    SOP Instance UID, and fails as a test asks: ``down`` checks and sends that find it
    unreachable, ``busy`` {sop: n} answers "try later" n times, ``refuse`` {sop: reason}
    for good, ``lose`` SOPs it drops after storing them."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.studies: dict[str, set[str]] = {}
        self.sends: Counter[str] = Counter()
        self.down = 0
        self.down_sends = 0
        self.busy: dict[str, int] = {}
        self.refuse: dict[str, str] = {}
        self.lose: set[str] = set()
        self.checks = 0
        self.held_calls = 0
        self.received: list[Outgoing] = []
        self.after_send: Callable[[int], None] = lambda _n: None
        self.dead: BaseException | None = None  # raised by every send once set

    def check(self) -> None:
        with self.lock:
            self.checks += 1
            if self.down:
                self.down -= 1
                raise Unreachable("connection refused")

    def held(self, study_uids: Sequence[str], *, subject: str, session: str) -> list[Held]:
        with self.lock:
            self.held_calls += 1
            return [Held(s, frozenset(self.studies.get(s, set()))) for s in study_uids]

    def send(self, batch: Sequence[Outgoing]) -> list[Sent]:
        if self.dead is not None:
            raise self.dead
        with self.lock:
            if self.down_sends:
                self.down_sends -= 1
                raise Unreachable("connection reset")
            out = []
            for o in batch:
                if self.busy.get(o.sop_uid, 0):
                    self.busy[o.sop_uid] -= 1
                    out.append(Sent(o.sop_uid, False, True, "503 Service Unavailable"))
                elif o.sop_uid in self.refuse:
                    out.append(Sent(o.sop_uid, False, False, self.refuse[o.sop_uid]))
                else:
                    self.sends[o.sop_uid] += 1
                    self.received.append(o)
                    if o.sop_uid not in self.lose:
                        self.studies.setdefault(o.study_uid, set()).add(o.sop_uid)
                    out.append(Sent(o.sop_uid, True))
            calls = len(self.received)
        self.after_send(calls)
        return out

    def close(self) -> None:
        pass


def use_peer(monkeypatch: pytest.MonkeyPatch, peer: Sender) -> None:
    """Every push job of this test sends to ``peer``."""
    monkeypatch.setattr(task, "open_sender", lambda _ctx, _dest: peer)


def run_pushes(ctx: Context, *, limit: int = 20) -> list[JobStatus]:
    """Claim and run queued jobs here, pushes and nothing else, until none is left."""
    ended = []
    for _ in range(limit):
        taken = queue.claim_next(ctx, "test", 1)
        if not taken:
            return ended
        job_id, token = taken[0]
        ended.append(
            runner.execute(
                ctx, job_id, token, pipelines={"push": task.run}, dispatch=lambda _ids: None
            )
        )
    return ended
