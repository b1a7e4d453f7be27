"""A PNG slice mosaic per image scan, for web pages, into the scan's SNAPSHOTS resource.

Reads the NIfTI that dcm2niix made (the NIFTI resource); a 4D run shows its first volume.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scandepot.pipelines import png
from scandepot.pipelines.jobrun import JobRun, PipelineError

SNAPSHOTS = "SNAPSHOTS"


def niftis(folder: Path | None) -> list[Path]:
    if folder is None or not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.name.endswith((".nii.gz", ".nii")))


def stem(path: Path) -> str:
    name = path.name
    return name[: -len(".nii.gz")] if name.endswith(".nii.gz") else path.stem


def load(path: Path) -> Any:
    """The image's data as float32, or PipelineError saying why it cannot be read."""
    import nibabel as nib
    import numpy as np

    try:
        img = nib.load(path)
        data = np.asarray(img.dataobj, dtype=np.float32)  # type: ignore[attr-defined]
    except Exception as exc:  # noqa: BLE001 - nibabel raises many kinds for bad files
        raise PipelineError(f"Cannot read {path.name}: {exc}") from None
    return img, data


def run(run: JobRun) -> None:
    import nibabel as nib

    run.versions["nibabel"] = nib.__version__
    results: list[dict[str, Any]] = []
    for target in run.targets:
        run.check()
        found = niftis(target.resources.get("NIFTI"))
        if not found:
            results.append({"scan": target.label, "status": "skipped", "message": "no NIfTI"})
            continue
        out = run.folder("snapshots", target.label)
        made, errors = [], []
        for path in found:
            try:
                _img, data = load(path)
            except PipelineError as exc:
                errors.append(str(exc))
                continue
            volume = data[..., 0] if data.ndim == 4 else data
            picture = png.mosaic(
                volume, slices=run.parameters["slices"], width=run.parameters["width"]
            )
            png.save(picture, out / f"{stem(path)}.png")
            made.append(f"{stem(path)}.png")
        if made:
            run.publish(out, SNAPSHOTS, target, "PNG", "snapshots")
        status = "failed" if errors and not made else "done"
        results.append({"scan": target.label, "status": status, "files": made, "errors": errors})
    run.report["scans"] = results
    failed = [r for r in results if r["status"] == "failed"]
    if failed and (not run.whole_session or len(failed) == len(results)):
        raise PipelineError("; ".join(e for r in failed for e in r["errors"]))
    if not run.whole_session and results and results[0]["status"] == "skipped":
        raise PipelineError(f"Scan {results[0]['scan']} has no NIfTI; run dcm2niix first.")
