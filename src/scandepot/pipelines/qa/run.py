"""The Quality Assessment pipeline: metrics per NIfTI image of each scan, into QA.

Structural (3D) images get spatial metrics, functional (4D) runs temporal and spatial
ones; diffusion runs (with bval/bvec) and single-slice images are reported as not assessed.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from scandepot.pipelines import png
from scandepot.pipelines.jobrun import JobRun, PipelineError
from scandepot.pipelines.qa import QA, functional, structural
from scandepot.pipelines.qa.mask import MaskError, head_mask
from scandepot.pipelines.snapshots import load, niftis, stem


def _clean(value: Any) -> Any:
    """JSON without NaN or infinities (null instead), which strict parsers refuse."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def assess(path: Path, parameters: dict[str, Any], out: Path) -> dict[str, Any]:
    """Metrics of one image, written as ``<name>_qa.json`` (and PNGs) into ``out``."""
    img, data = load(path)
    name = stem(path)
    if path.with_name(name + ".bval").exists():
        return {"image": path.name, "status": "skipped", "message": "diffusion run"}
    if data.ndim == 3 and min(data.shape) <= 2:
        return {"image": path.name, "status": "skipped", "message": "single-slice image"}
    zooms = tuple(float(z) for z in img.header.get_zooms()[:3])
    if data.ndim == 4 and data.shape[3] > 1:
        kind = "functional"
        data = data[..., parameters["skip_volumes"] :]
        if data.shape[3] < 3:
            raise PipelineError(f"{path.name}: fewer than 3 volumes left after skip_volumes.")
        reference = data.mean(axis=3)
    else:
        kind = "structural"
        data = data[..., 0] if data.ndim == 4 else data
        reference = data
    try:
        mask = head_mask(reference, min_voxels=parameters["min_mask_voxels"])
        if kind == "functional":
            values = functional.metrics(data, mask, outlier_q=parameters["outlier_q"])
            spatial = structural.metrics(reference, mask, zooms)
            values.update({k: v for k, v in spatial.items() if k != "qi1"})
        else:
            values = structural.metrics(reference, mask, zooms)
    except MaskError as exc:
        raise PipelineError(f"{path.name}: {exc}") from None
    report = {
        "image": path.name,
        "kind": kind,
        "shape": [int(n) for n in img.shape],
        "zooms": [float(z) for z in img.header.get_zooms()],
        "metrics": values,
    }
    (out / f"{name}_qa.json").write_text(json.dumps(_clean(report), indent=1, allow_nan=False))
    if parameters["plots"]:
        png.save(png.mosaic(reference, slices=16, width=1024, mask=mask), out / f"{name}_mask.png")
        if kind == "functional":
            series = values["series"]
            plot = png.line_plot(
                [("DVARS", series["dvars"]), ("global signal", series["global_signal"])]
            )
            png.save(plot, out / f"{name}_timeseries.png")
    summary = {k: v for k, v in values.items() if k != "series"}
    return {"image": path.name, "status": "done", "kind": kind, "metrics": _clean(summary)}


def run(run: JobRun) -> None:
    import nibabel as nib
    import scipy

    run.versions.update(numpy=np.__version__, scipy=scipy.__version__, nibabel=nib.__version__)
    results: list[dict[str, Any]] = []
    for target in run.targets:
        found = niftis(target.resources.get("NIFTI"))
        if not found:
            results.append({"scan": target.label, "status": "skipped", "message": "no NIfTI"})
            continue
        out = run.folder("qa", target.label)
        images, errors = [], []
        for path in found:
            run.check()
            try:
                images.append(assess(path, run.parameters, out))
            except PipelineError as exc:
                run.log(f"scan {target.label}: {exc}")
                errors.append(str(exc))
        if any(p.is_file() for p in out.iterdir()):
            run.publish(out, QA, target, "QA", "quality metrics")
        done = any(i["status"] == "done" for i in images)
        status = "failed" if errors else ("done" if done else "skipped")
        results.append({"scan": target.label, "status": status, "images": images, "errors": errors})
    run.report["scans"] = results
    failed = [r for r in results if r["status"] == "failed"]
    messages = "; ".join(e for r in failed for e in r["errors"])
    if failed and (not run.whole_session or len(failed) == len(results)):
        raise PipelineError(messages)
    if not run.whole_session and results and results[0]["status"] == "skipped":
        reason = results[0].get("message") or "nothing to assess"
        raise PipelineError(f"Scan {results[0]['scan']}: {reason}.")
    assessed = sum(1 for r in results if r["status"] == "done")
    run.report["message"] = f"{assessed} scan(s) assessed, {len(failed)} failed" + (
        f": {messages}" if failed else "."
    )
