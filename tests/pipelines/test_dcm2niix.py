"""DICOM to NIfTI on real Siemens data and on synthetic series of known geometry."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from scandepot.access.actors import SYSTEM
from scandepot.archive import files
from scandepot.archive.resources import OwnerRef
from scandepot.catalog.paging import PageRequest
from scandepot.catalog.pipelines import JobStatus
from scandepot.context import Context
from scandepot.pipelines import dcm2niix, jobs
from scandepot.pipelines.jobs import LaunchRequest
from tests.pipelines.conftest import ArchiveFn, enable, run_queued
from tests.pipelines.dicom import pydicom_file


def nifti_dir(ctx: Context, session: str, scan: str, project: str = "PIPE") -> Path:
    return (
        ctx.store.archive
        / project
        / "subjects/S1/sessions"
        / session
        / "scans"
        / scan
        / ("resources/NIFTI/files")
    )


def catalogued(ctx: Context, scan: str, resource: str = "NIFTI") -> list[str]:
    ref = OwnerRef("PIPE", session="E1", scan=scan)
    page = files.list_files(ctx, SYSTEM, ref, resource, PageRequest())
    return [f.path for f in page.items]


@pytest.mark.interop
def test_real_and_synthetic_scans_convert_with_orientation_and_sidecars(
    ctx: Context, archive: ArchiveFn, real: dict[str, list[Path]], synthetic: dict[str, list[Path]]
) -> None:
    archive(
        {
            "1": synthetic["t1"],
            "2": synthetic["bold"],
            "3": real["epi"],
            "4": real["dwi"],
            "5": [pydicom_file("MR_small.dcm")],
        }
    )
    enable(ctx, "PIPE", "dcm2niix", auto=False)
    job = jobs.launch(ctx, SYSTEM, "PIPE", "E1", LaunchRequest("dcm2niix"))
    assert run_queued(ctx) == [JobStatus.SUCCEEDED]

    t1 = nib.load(nifti_dir(ctx, "E1", "1") / "1_T1w.nii.gz")
    assert t1.shape == (32, 40, 12)
    assert t1.header.get_zooms() == (1.0, 1.0, 1.5)
    # The marked voxel was at column 12, row 15, slice 5: DICOM patient position (LPS)
    # (12, 15, 7.5) mm, which is RAS (-12, -15, 7.5) whatever axes dcm2niix flipped.
    data = np.asarray(t1.dataobj)
    brightest = np.unravel_index(int(data.argmax()), data.shape)
    assert np.allclose(t1.affine @ [*brightest, 1], [-12.0, -15.0, 7.5, 1.0])

    bold = nib.load(nifti_dir(ctx, "E1", "2") / "2_bold.nii.gz")
    assert bold.shape == (24, 28, 10, 8)
    assert float(bold.header.get_zooms()[3]) == 2.0
    sidecar = json.loads((nifti_dir(ctx, "E1", "2") / "2_bold.json").read_text())
    assert sidecar["RepetitionTime"] == 2.0
    assert sidecar["SeriesNumber"] == 2
    assert "PatientName" not in sidecar  # -ba y: no names in the sidecar

    epi = nib.load(nifti_dir(ctx, "E1", "3") / "6_ax_asc_35sl.nii.gz")
    assert epi.shape == (64, 64, 35)  # the Siemens mosaic was unpacked into 35 slices
    assert nib.aff2axcodes(epi.affine) == ("L", "A", "S")
    epi_sidecar = json.loads((nifti_dir(ctx, "E1", "3") / "6_ax_asc_35sl.json").read_text())
    assert epi_sidecar["Manufacturer"] == "Siemens"
    assert len(epi_sidecar["SliceTiming"]) == 35

    dwi_files = catalogued(ctx, "4")
    stem = "28_dMRI_mb3_AP_1.5"
    assert dwi_files == sorted(f"{stem}{s}" for s in (".bval", ".bvec", ".json", ".nii.gz"))
    assert nib.load(nifti_dir(ctx, "E1", "4") / f"{stem}.nii.gz").shape == (150, 152, 81, 3)
    bvals = (nifti_dir(ctx, "E1", "4") / f"{stem}.bval").read_text().split()
    assert len(bvals) == 3

    small = nib.load(next(nifti_dir(ctx, "E1", "5").glob("*.nii.gz")))
    assert small.shape == (64, 64, 1)  # pydicom's one-slice MR test file

    record = jobs.get(ctx, SYSTEM, "PIPE", job.id)
    assert record.versions["dcm2niix"] == dcm2niix.version()
    assert record.versions["dcm2niix"].startswith("v1.0.")
    assert [s["status"] for s in record.outputs["scans"]] == ["converted"] * 5
    assert record.message == "5 converted, 0 failed, 0 skipped."
    assert "-ba y" in record.log and "Convert 12 DICOM" in record.log


@pytest.mark.interop
def test_a_scan_that_cannot_convert_is_reported_and_the_session_goes_on(
    ctx: Context, archive: ArchiveFn, real: dict[str, list[Path]], synthetic: dict[str, list[Path]]
) -> None:
    archive({"1": synthetic["t1"], "9": real["bad"]})
    enable(ctx, "PIPE", "dcm2niix", auto=False)
    session_job = jobs.launch(ctx, SYSTEM, "PIPE", "E1", LaunchRequest("dcm2niix"))
    scan_job = jobs.launch(ctx, SYSTEM, "PIPE", "E1", LaunchRequest("dcm2niix"), scan="9")
    assert run_queued(ctx) == [JobStatus.SUCCEEDED, JobStatus.FAILED]

    done = jobs.get(ctx, SYSTEM, "PIPE", session_job.id)
    by_scan = {s["scan"]: s for s in done.outputs["scans"]}
    assert by_scan["1"]["status"] == "converted"
    assert by_scan["9"]["status"] == "failed"
    assert "No valid DICOM images were found" in by_scan["9"]["message"]
    assert catalogued(ctx, "1") == ["1_T1w.json", "1_T1w.nii.gz"]

    failed = jobs.get(ctx, SYSTEM, "PIPE", scan_job.id)
    assert failed.message.startswith("dcm2niix could not convert scan 9")
    assert "No valid DICOM images were found" in failed.log
    assert not nifti_dir(ctx, "E1", "9").exists()  # nothing half-made is left


def test_options_are_explicit_and_a_user_ini_is_never_read(tmp_path: Path) -> None:
    params = {
        "filename": "%s_%p",
        "merge_2d": "auto",
        "ignore_derived": False,
        "crop": False,
        "anonymize_sidecar": True,
        "timeout_s": 60,
    }
    argv = dcm2niix.argv(params, tmp_path / "in", tmp_path / "out")
    flags = argv[1:-1:2]
    for flag in ("-b", "-ba", "-z", "-f", "-m", "-i", "-x", "-p", "-d", "-g", "-o"):
        assert flag in flags
    assert argv[argv.index("-g") + 1] == "n"
