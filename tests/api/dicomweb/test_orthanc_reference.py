"""scandepot's QIDO-RS answers compared with Orthanc's, attribute by attribute.

The same instances (real Siemens files from heudiconv's test data, pydicom's test files and
synthetic studies) go into Orthanc 1.10 with its DICOMweb plug-in, and from Orthanc to
scandepot by Orthanc's own DICOMweb client (STOW-RS: a real sender). Then the queries OHIF's
study list and series panel send, patient name wildcards, date ranges, modality in study and
includefield=all go to both. Every difference is a failure unless DELIBERATE lists it with
its reason; docs/dicomweb.md lists the same.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from bench.orthanc import Namespace

from scandepot.dicom.synthetic import Series, Study
from tests.helpers import write_study
from tests.pipelines.dicom import heudiconv_data, pydicom_file

pytestmark = pytest.mark.interop

ROOT = Path(__file__).resolve().parents[3]

# (tag, where it is answered only by "orthanc" or "scandepot", or "value"): why.
DELIBERATE: dict[tuple[str, str], str] = {}


def reference_files(folder: Path) -> list[Path]:
    data = heudiconv_data()
    files = [data / "axasc35.dcm", data / "phantom.dcm", *sorted((data / "b0dwiForFmap").glob("*"))]
    files += [pydicom_file("CT_small.dcm"), pydicom_file("MR_small.dcm")]
    for number, (name, date, patient) in enumerate(
        [("Synthetic^RefA", "20240301", "SYN001"), ("Synthetic^RefB", "20241115", "SYN002")]
    ):
        study = Study(PatientName=name, PatientID=patient, StudyDate=date)
        series = [Series(1, "T1w"), Series(2, "bold")]
        files += write_study(folder / f"synthetic{number}", study, series, per_series=3)
    return files


def value(item: dict[str, Any]) -> Any:
    found = item.get("Value", [])
    return [v.get("Alphabetic") if isinstance(v, dict) else v for v in found]


def differences(name: str, ours: dict[str, Any], theirs: dict[str, Any]) -> list[str]:
    found = []
    for tag in sorted(set(ours) | set(theirs)):
        if tag not in ours:
            side = "orthanc"
        elif tag not in theirs:
            side = "scandepot"
        elif tag == "00081190":  # RetrieveURL: each server's own root
            mine, other = value(ours[tag]), value(theirs[tag])
            if [u.split("/studies/", 1)[1] for u in mine] == [
                u.split("/studies/", 1)[1] for u in other
            ]:
                continue
            side = "value"
        elif value(ours[tag]) == value(theirs[tag]) and ours[tag]["vr"] == theirs[tag]["vr"]:
            continue
        else:
            side = "value"
        if (tag, side) not in DELIBERATE:
            found.append(f"{name}: {tag} {side}: ours {ours.get(tag)} theirs {theirs.get(tag)}")
    return found


KEYS = ("00080018", "0020000E", "0020000D")  # the unique key of each level


def key_of(item: dict[str, Any]) -> str:
    return next(item[k]["Value"][0] for k in KEYS if k in item)


def compare(name: str, answer: dict[str, Any]) -> list[str]:
    ours, theirs = answer["scandepot"], answer["orthanc"]
    if ours["status"] != theirs["status"]:
        return [f"{name}: status {ours['status']} against {theirs['status']}"]
    if name == "limit and offset":  # neither promises an order: the page's length only
        return [] if len(ours["body"]) == len(theirs["body"]) else [f"{name}: lengths differ"]
    mine = {key_of(item): item for item in ours["body"]}
    other = {key_of(item): item for item in theirs["body"]}
    if set(mine) != set(other):
        return [f"{name}: matched {sorted(mine)} against {sorted(other)}"]
    return [line for key in mine for line in differences(name, mine[key], other[key])]


@pytest.fixture(scope="module")
def answers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("reference")
    files = reference_files(out / "synthetic")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    with Namespace("sdref") as ns:
        argv = [sys.executable, "-m", "tests.api.dicomweb.reference", str(out), *map(str, files)]
        run = subprocess.run(ns.cmd(argv), cwd=ROOT, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    loaded: dict[str, Any] = json.loads((out / "answers.json").read_text())
    return loaded


def test_every_study_arrived_by_orthancs_own_stow(answers: dict[str, Any]) -> None:
    listed = answers["ohif study list"]
    assert listed["orthanc"]["status"] == listed["scandepot"]["status"] == 200
    assert len(listed["scandepot"]["body"]) == len(listed["orthanc"]["body"]) >= 6


def test_queries_answer_as_orthanc_does(answers: dict[str, Any]) -> None:
    found = [line for name, answer in answers.items() for line in compare(name, answer)]
    assert found == [], "\n".join(found)


def test_each_query_matched_something(answers: dict[str, Any]) -> None:
    """The queries are worth comparing: each matches something on Orthanc, except the one
    made to match nothing."""
    empty = [n for n, a in answers.items() if not a["orthanc"]["body"] and n != "date up to"]
    assert empty == []
