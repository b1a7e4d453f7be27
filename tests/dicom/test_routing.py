"""Routing values from DICOM headers, as docs/dicom.md states the rule."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from scandepot.dicom.headers import Header
from scandepot.dicom.routing import route

_BLANK: dict[str, Any] = {f.name: None for f in dataclasses.fields(Header)}


def header(**values: Any) -> Header:
    return Header(**{**_BLANK, "PatientName": "Doe^Jane", "PatientID": "ID 77", **values})


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"StudyDescription": "xnat://pilot/sub 01/ses 01"}, ("pilot", "sub_01", "ses_01")),
        ({"StudyDescription": "xnat://pilot/sub 01"}, ("pilot", "sub_01", "ID_77")),
        ({"StudyDescription": "xnat://my pilot"}, ("my_pilot", "Doe_Jane", "ID_77")),
        (
            {"PatientComments": "Project: pilot Subject: sub 01 Session: ses 01"},
            ("pilot", "sub_01", "ses_01"),
        ),
        (
            {"StudyComments": "Project: pilot; Subject: Jane Doe, Session: visit 2"},
            ("pilot", "Jane_Doe", "visit_2"),
        ),
        # An empty value counts as absent: the next rule decides.
        (
            {"PatientComments": "Project: ", "StudyComments": "Project: P2"},
            ("P2", "Doe_Jane", "ID_77"),
        ),
    ],
)
def test_values_with_spaces_are_cleaned_whole(
    values: dict[str, str], expected: tuple[str, str, str]
) -> None:
    routed = route(header(**values))
    assert (routed.project, routed.subject, routed.session) == expected
