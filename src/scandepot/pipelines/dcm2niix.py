"""DICOM to NIfTI with dcm2niix (the PyPI package ``dcm2niix`` ships the binary).

Per scan, the original DICOM (never a copy: see DESIGN.md) is converted into compressed
NIfTI with its BIDS sidecar, and bval/bvec for diffusion, published as the scan's NIFTI
resource. Every option is given on the command line and HOME points at an empty folder,
so a ``~/.dcm2nii.ini`` on the machine can never change the result.

A scan that is not an image series, or that dcm2niix cannot convert, is reported in the
job's outputs; a session's job fails only when no image scan could be converted.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
from pathlib import Path
from typing import Any

from scandepot.pipelines.jobrun import JobRun, PipelineError, ScanTarget

NIFTI = "NIFTI"
DICOM = "DICOM"
_VERSION = re.compile(r"v\d+\.\d+\.\d{8}")


def binary() -> str:
    import dcm2niix

    return str(dcm2niix.bin)


@functools.cache
def version() -> str:
    out = subprocess.run(
        [binary(), "--version"], capture_output=True, text=True, timeout=30, check=False
    )
    found = _VERSION.search(out.stdout + out.stderr)
    return found.group(0) if found else "unknown"


def argv(parameters: dict[str, Any], source: Path, out: Path) -> list[str]:
    """The full command line: every option explicit (dcm2niix -h lists them)."""
    yn = {True: "y", False: "n"}
    merge = {"auto": "2", "yes": "1", "no": "0"}[parameters["merge_2d"]]
    return [
        binary(),
        "-b", "y",  # BIDS sidecar
        "-ba", yn[parameters["anonymize_sidecar"]],
        "-z", "y",  # gzip, internal
        "-f", parameters["filename"],
        "-m", merge,
        "-i", yn[parameters["ignore_derived"]],
        "-x", yn[parameters["crop"]],
        "-p", "y",  # Philips precise float scaling
        "-d", "9",  # search the whole resource folder
        "-s", "n",
        "-l", "n",
        "-w", "1",  # overwrite (the folder is new anyway)
        "-g", "n",  # never write a defaults file
        "-v", "0",
        "-o", str(out),
        str(source),
    ]  # fmt: skip


def is_image(folder: Path) -> tuple[bool, str]:
    """Whether the series holds pixel data, from the first instance's header."""
    import pydicom

    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        except Exception:  # noqa: BLE001 - not DICOM at all: let dcm2niix have its say
            continue
        if "Rows" not in ds and "PixelData" not in ds:
            sop = getattr(ds, "SOPClassUID", None)
            name = getattr(sop, "name", "") or str(sop)
            return False, f"not an image series (SOP Class {name})"
        return True, ""
    return True, ""


def convert(run: JobRun, target: ScanTarget) -> dict[str, Any]:
    source = target.resources.get(DICOM)
    if source is None or not source.is_dir() or not any(source.iterdir()):
        return {"scan": target.label, "status": "skipped", "message": "no DICOM resource"}
    image, why = is_image(source)
    if not image:
        run.log(f"scan {target.label}: {why}; skipped")
        return {"scan": target.label, "status": "skipped", "message": why}
    out = run.folder("dcm2niix", target.label)
    home = run.folder("home")
    env = {"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}
    done = run.run(
        argv(run.parameters, source, out), timeout_s=run.parameters["timeout_s"], env=env
    )
    made = sorted(p.name for p in out.iterdir())
    niftis = [m for m in made if m.endswith(".nii.gz")]
    if done.returncode != 0 or not niftis:
        last = [ln for ln in (done.stdout or "").splitlines() if ln.strip()][-3:]
        reason = "; ".join(last) or f"exit status {done.returncode}"
        for leftover in out.iterdir():
            leftover.unlink()
        return {
            "scan": target.label,
            "status": "failed",
            "message": f"dcm2niix could not convert scan {target.label}: {reason}",
        }
    run.publish(out, NIFTI, target, "NIFTI", "dcm2niix")
    return {"scan": target.label, "status": "converted", "files": made, "images": _shapes(out)}


def _shapes(out: Path) -> dict[str, list[int]]:
    import nibabel as nib

    shapes: dict[str, list[int]] = {}
    for path in sorted(out.glob("*.nii.gz")):
        shapes[path.name] = [int(n) for n in nib.load(path).shape]  # type: ignore[attr-defined]
    return shapes


def run(run: JobRun) -> None:
    run.versions["dcm2niix"] = version()
    results = []
    for target in run.targets:
        run.check()
        results.append(convert(run, target))
    run.report["scans"] = results
    converted = [r for r in results if r["status"] == "converted"]
    failed = [r for r in results if r["status"] == "failed"]
    summary = f"{len(converted)} converted, {len(failed)} failed, " + (
        f"{len(results) - len(converted) - len(failed)} skipped"
    )
    if failed and (not converted or not run.whole_session):
        raise PipelineError("; ".join(r["message"] for r in failed))
    if not run.whole_session and not converted:
        raise PipelineError(
            f"Nothing to convert in scan {results[0]['scan']}: {results[0]['message']}."
            if results
            else "No such scan."
        )
    run.report["message"] = summary + (
        ". " + "; ".join(r["message"] for r in failed) if failed else "."
    )
