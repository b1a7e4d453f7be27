"""Where an instance goes: project, subject and session labels from its header.

The rules, first match wins (docs/dicom.md explains them for scanner operators):

1. Study Description (0008,1030) holding ``xnat://project/subject/session`` (subject and
   session may be left out: ``xnat://project`` or ``xnat://project/subject``);
2. ``Project: P Subject: S Session: E`` in Patient Comments (0010,4000), then in Study
   Comments (0032,4000); any of the three may be missing;
3. the project configured for the called AE title;
4. otherwise the instance is unassigned: it waits in the prearchive for someone to route it.

Subject defaults to Patient's Name (0010,0010), session to Patient ID (0010,0020).
A value runs to the next '/' (``xnat://``) or to the next key, ';', ',' or line end
(comments), spaces included, and becomes a label predictably as a whole: every run of
characters other than letters, digits, '-' and '_' becomes one '_', '_' is trimmed from
both ends, and the result is cut at 64 characters; a value left empty counts as absent.
Nothing is refused at this stage. The project is matched to a project ID ignoring case
where the staged session is resolved (prearchive.builder), as labels are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from scandepot.dicom.headers import Header

# A value runs to the next '/', spaces included ("xnat://P/sub 01" names subject sub_01).
_XNAT = re.compile(r"xnat://([^/]+)(?:/([^/]*))?(?:/([^/]*))?", re.IGNORECASE)
# A value runs to the next key, ';', ',' or line end, spaces included.
_KEY = r"\b(?:Project|Subject|Session)\s*:"
_PAIR = re.compile(rf"\b(Project|Subject|Session)\s*:\s*((?:(?!{_KEY})[^;,\r\n])*)", re.IGNORECASE)
_BAD = re.compile(r"[^A-Za-z0-9_-]+")


@dataclass(frozen=True, slots=True)
class Route:
    project: str | None
    subject: str | None
    session: str | None
    rule: str  # which rule decided the project: study-description, patient-comments, ...


def clean(value: str | None) -> str | None:
    if value is None:
        return None
    label = _BAD.sub("_", value).strip("_")[:64].strip("_")
    return label or None


def _pairs(text: str | None) -> dict[str, str]:
    if not text:
        return {}
    return {key.lower(): value for key, value in _PAIR.findall(text) if value.strip()}


def route(header: Header, *, default_project: str | None = None) -> Route:
    """Apply the rules; ``default_project`` is the one configured for the called AE title."""
    project = subject = session = None
    rule = "unassigned"
    match = _XNAT.search(header.StudyDescription or "")
    if match:
        project, subject, session = match.groups()
        rule = "study-description"
    else:
        for where, text in (
            ("patient-comments", header.PatientComments),
            ("study-comments", header.StudyComments),
        ):
            found = _pairs(text)
            if "project" in found:
                project, subject, session = (
                    found.get("project"),
                    found.get("subject"),
                    found.get("session"),
                )
                rule = where
                break
        else:
            if default_project:
                project = default_project
                rule = "called-ae"
    return Route(
        project=clean(project),
        subject=clean(subject) or clean(header.PatientName),
        session=clean(session) or clean(header.PatientID),
        rule=rule,
    )
