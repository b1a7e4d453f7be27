"""Files and folders de-identified offline into an output folder: the tree kept, a file
that fails listed with its reason while the others go on, no output half-written or
left when verification fails, outputs never replaced unasked."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_file

from scandepot.deid import offline, scripts
from scandepot.deid.model import Run
from scandepot.errors import Invalid
from tests.deid.project_world import CTP_NAME_ONLY, PROFILE, mr_small


def ct_small() -> Path:
    found = get_testdata_file("CT_small.dcm")
    assert found is not None
    return Path(str(found))


@pytest.fixture
def study(tmp_path: Path) -> Path:
    """study/MR/1.dcm, study/CT/1.dcm, study/notes.txt and a hidden .DS_Store."""
    folder = tmp_path / "in" / "study"
    (folder / "MR").mkdir(parents=True)
    (folder / "CT").mkdir()
    shutil.copy(mr_small(), folder / "MR" / "1.dcm")
    shutil.copy(ct_small(), folder / "CT" / "1.dcm")
    (folder / "notes.txt").write_text("not DICOM")
    (folder / ".DS_Store").write_bytes(b"\0")
    return folder


def run() -> Run:
    return Run(offline.keys(b"a secret of the test", None))


def left_over(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(".part")]


def test_a_folder_keeps_its_tree_and_a_bad_file_fails_alone(study: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    seen: list[tuple[str, bool]] = []
    summary = offline.deidentify(
        scripts.load("profile", PROFILE),
        run(),
        [study],
        out,
        progress=lambda source, failed: seen.append((source.name, failed is None)),
    )
    assert sorted(p.relative_to(out).as_posix() for p in summary.done) == [
        "study/CT/1.dcm",
        "study/MR/1.dcm",
    ]
    [failed] = summary.failed
    assert failed.source == study / "notes.txt"
    assert failed.reason.startswith("notes.txt: not a DICOM file")
    assert not summary.ok
    assert sorted(seen) == [("1.dcm", True), ("1.dcm", True), ("notes.txt", False)]
    for path in summary.done:
        ds = dcmread(path)
        assert str(ds.PatientName) not in ("CompressedSamples^MR1", "CompressedSamples^CT1")
    assert not (out / "study" / "notes.txt").exists()
    assert not (out / "study" / ".DS_Store").exists()
    assert left_over(out) == []
    # The sources are never changed.
    assert dcmread(study / "MR" / "1.dcm").PatientName == "CompressedSamples^MR1"


def test_a_file_the_verification_refuses_leaves_no_output(tmp_path: Path) -> None:
    out = tmp_path / "out"
    summary = offline.deidentify(
        scripts.load("ctp", CTP_NAME_ONLY), run(), [mr_small()], out
    )  # the Patient ID stays: not de-identified
    [failed] = summary.failed
    assert "MR_small.dcm is not de-identified" in failed.reason
    assert "(0010,0020)" in failed.reason
    assert summary.done == []
    assert list(out.rglob("*.dcm")) == [] and left_over(out) == []


def test_outputs_are_replaced_only_when_asked(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "MR_small.dcm").write_bytes(b"mine")
    script = scripts.load("profile", PROFILE)
    summary = offline.deidentify(script, run(), [mr_small()], out)
    assert [f.reason for f in summary.failed] == [
        f"{out / 'MR_small.dcm'} exists; not replaced (--overwrite replaces it)."
    ]
    assert (out / "MR_small.dcm").read_bytes() == b"mine"
    again = offline.deidentify(script, run(), [mr_small()], out, overwrite=True)
    assert again.ok and dcmread(out / "MR_small.dcm").SOPClassUID == dcmread(mr_small()).SOPClassUID


def test_an_output_folder_inside_the_input_is_not_read(study: Path) -> None:
    out = study / "deid"
    script = scripts.load("profile", PROFILE)
    first = offline.deidentify(script, run(), [study / "MR"], out)
    second = offline.deidentify(script, run(), [study], out, overwrite=True)
    assert [p.relative_to(out).as_posix() for p in first.done] == ["MR/1.dcm"]
    assert all("deid/" not in f.source.as_posix() for f in second.failed)
    assert all(not p.relative_to(out).as_posix().startswith("study/deid") for p in second.done)


def test_missing_inputs_stop_before_anything(tmp_path: Path) -> None:
    with pytest.raises(Invalid, match="No such file or folder: .*nowhere"):
        offline.deidentify(
            scripts.load("profile", PROFILE), run(), [tmp_path / "nowhere"], tmp_path / "out"
        )
    assert not (tmp_path / "out").exists()


def test_the_lookup_table_and_the_key() -> None:
    keys = offline.keys(b"k", "kind,original,pseudonym\nptid,4MR1,SUBJ-001\n")
    assert keys.pseudonym("ptid", "4MR1") == "SUBJ-001"
    assert keys.uid("1.2.3") == offline.keys(b"k", None).uid("1.2.3")
    assert keys.uid("1.2.3") != offline.keys(b"other", None).uid("1.2.3")
    assert offline.keys(None, None).uid("1.2.3") != offline.keys(None, None).uid("1.2.3")
    ctp = offline.keys(b"k", "ptid/4MR1 = SUBJ-001\n", source="lookup.properties")
    assert ctp.pseudonym("ptid", "4MR1") == "SUBJ-001"
    with pytest.raises(Invalid) as refused:
        offline.keys(None, "ptid,A,P1\nptid,A,P2\n", source="table.csv")
    assert refused.value.message.startswith(
        "table.csv, line 2: ptid original 'A' is also on line 1"
    )
