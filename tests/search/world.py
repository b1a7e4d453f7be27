"""A small archive for the search tests: three projects, their subjects, sessions and scans.

ALPHA (private) and BETA (private) have the usual owner, member and collaborator; the
outsider is a member of ALPHA only. GAMMA is public. Sessions of several modalities and
dates, one without a scanner, so that each comparison has something to tell apart.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from scandepot.access import roles
from scandepot.access.actors import SYSTEM
from scandepot.archive import scans, sessions, subjects
from scandepot.archive.scans import ScanCreate
from scandepot.archive.sessions import SessionCreate
from scandepot.archive.subjects import SubjectCreate
from scandepot.catalog.access import Role
from scandepot.context import Context


@dataclass
class World:
    subjects: dict[str, str] = field(default_factory=dict)  # label -> stable ID
    sessions: dict[str, str] = field(default_factory=dict)  # label -> stable ID

    def ids(self, *labels: str) -> list[str]:
        return [self.sessions[label] for label in labels]


SUBJECTS = {
    "ALPHA": [
        ("s1", {"sex": "male", "age": 30, "group": "control"}),
        ("s2", {"sex": "female", "age": 45}),
    ],
    "BETA": [("t1", {"sex": "female", "age": 50})],
    "GAMMA": [("u1", {"sex": "male", "age": 61})],
}
SESSIONS: dict[str, list[tuple[str, str, dict[str, Any]]]] = {
    "ALPHA": [
        (
            "a1",
            "s1",
            {
                "modality": "MR",
                "date": dt.date(2020, 1, 10),
                "StationName": "SCAN1",
                "MagneticFieldStrength": 3.0,
            },
        ),
        ("a2", "s1", {"modality": "CT", "date": dt.date(2021, 5, 1), "StationName": "CT1"}),
        ("a3", "s2", {"modality": "MR", "date": dt.date(2022, 3, 3), "MagneticFieldStrength": 1.5}),
    ],
    "BETA": [
        ("b1", "t1", {"modality": "MR", "date": dt.date(2020, 1, 10), "StationName": "SCAN1"})
    ],
    "GAMMA": [
        ("c1", "u1", {"modality": "MR", "date": dt.date(2019, 7, 7), "StationName": "SCAN2"})
    ],
}
SCANS = {
    ("ALPHA", "a1"): [("1", "T1w", "MR"), ("2", "T2w", "MR")],
    ("BETA", "b1"): [("1", "T1w", "MR")],
    ("GAMMA", "c1"): [("1", "T1w_mprage", "MR")],
}


def build(ctx: Context, make_project: Any) -> World:
    world = World()
    make_project("private", label="ALPHA")
    make_project("private", label="BETA")
    make_project("public", label="GAMMA")
    roles.set_role(ctx, SYSTEM, "ALPHA", "outsider", Role.MEMBER)
    for project, made in SUBJECTS.items():
        for label, values in made:
            subject = subjects.create(ctx, SYSTEM, project, SubjectCreate(label=label, **values))
            world.subjects[label] = subject.stable_id
    for project, listed in SESSIONS.items():
        for label, subject_label, values in listed:
            data = SessionCreate(label=label, subject=subject_label, **values)
            world.sessions[label] = sessions.create(ctx, SYSTEM, project, data).stable_id
    for (project, session), made_scans in SCANS.items():
        for scan_id, kind, modality in made_scans:
            data = ScanCreate(id=scan_id, type=kind, SeriesDescription=kind, Modality=modality)
            scans.create(ctx, SYSTEM, project, session, data)
    return world
