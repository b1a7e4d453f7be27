"""The pipelines a site offers, their parameters, and each project's settings for them.

Parameters are checked twice: when an owner saves them for a project, and when a job is
launched with overrides. A value out of range is refused with the parameter named
(``parameters.timeout_s``), never discovered half-way through a job.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select

from scandepot.access import audit
from scandepot.access.actors import Actor
from scandepot.access.audit import AuditAction
from scandepot.access.permissions import Action
from scandepot.archive import projects
from scandepot.catalog.pipelines import PipelineConfig
from scandepot.context import Context
from scandepot.errors import Invalid, NotFound


class Parameters(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Dcm2niixParameters(Parameters):
    """Every option dcm2niix runs with is explicit; see pipelines/dcm2niix.py."""

    filename: str = Field(
        default="%s_%p",
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9%_.-]+$",
        description="dcm2niix output name pattern (-f): %s series number, %p protocol, ...",
    )
    merge_2d: Literal["auto", "yes", "no"] = Field(
        default="auto", description="Merge 2D slices across echoes/times (-m)."
    )
    ignore_derived: bool = Field(
        default=False, description="Skip derived, localizer and 2D images (-i)."
    )
    crop: bool = Field(default=False, description="Crop 3D T1 acquisitions (-x).")
    anonymize_sidecar: bool = Field(
        default=True, description="Leave names and dates out of the BIDS sidecar (-ba)."
    )
    timeout_s: int = Field(
        default=3600, ge=10, le=86_400, description="Longest run of dcm2niix for one scan."
    )

    @field_validator("filename")
    @classmethod
    def _no_dot_prefix(cls, value: str) -> str:
        if value.startswith(".") or ".." in value:
            raise ValueError("must not start with '.' or contain '..'")
        return value


class QaParameters(Parameters):
    skip_volumes: int = Field(
        default=0, ge=0, le=100, description="Initial volumes of a 4D run left out (dummies)."
    )
    outlier_q: float = Field(
        default=0.001,
        gt=0,
        lt=0.5,
        description="False-outlier probability for the outlier fraction (3dToutcount -qthr).",
    )
    min_mask_voxels: int = Field(
        default=500, ge=10, le=10_000_000, description="A smaller head mask fails the scan."
    )
    plots: bool = Field(default=True, description="Write PNG plots beside the metrics.")


class SnapshotParameters(Parameters):
    slices: int = Field(default=16, ge=1, le=64, description="Slices in the mosaic.")
    width: int = Field(default=1024, ge=64, le=4096, description="Mosaic width in pixels.")


class DataladParameters(Parameters):
    timeout_s: int = Field(
        default=3600,
        ge=10,
        le=86_400,
        description="Longest run of DataLad and git-annex making one visit's dataset.",
    )


@dataclass(frozen=True, slots=True)
class PipelineInfo:
    name: str
    title: str
    description: str
    parameters: type[Parameters]
    # Pipelines that must finish first when launched together on one session.
    after: tuple[str, ...] = ()


PIPELINES: dict[str, PipelineInfo] = {
    "dcm2niix": PipelineInfo(
        "dcm2niix",
        "DICOM to NIfTI",
        "dcm2niix per scan: NIfTI (.nii.gz), BIDS sidecar JSON, bval/bvec, into NIFTI.",
        Dcm2niixParameters,
    ),
    "qa": PipelineInfo(
        "qa",
        "Quality Assessment",
        "QAP/MRIQC image quality metrics from the NIfTI, into QA (JSON and PNG plots).",
        QaParameters,
        after=("dcm2niix",),
    ),
    "snapshots": PipelineInfo(
        "snapshots",
        "Snapshots",
        "A PNG slice mosaic per image scan, into SNAPSHOTS.",
        SnapshotParameters,
        after=("dcm2niix",),
    ),
    # Run by datalad/ (its job is wired in by the processes that run jobs, processes.py).
    "datalad": PipelineInfo(
        "datalad",
        "DataLad dataset",
        "The visit's metadata and clone-able DataLad dataset in the visit store, over the "
        "session's DICOM tarball (docs/datalad.md).",
        DataladParameters,
    ),
}
# Launch order on a session: a pipeline comes after those it reads from.
ORDER = ("dcm2niix", "qa", "snapshots", "datalad")


def info(name: str) -> PipelineInfo:
    found = PIPELINES.get(name)
    if found is None:
        raise NotFound(f"No pipeline '{name}'; choose from: {', '.join(ORDER)}.", field="pipeline")
    return found


def check_parameters(name: str, values: dict[str, Any]) -> dict[str, Any]:
    """The full parameter set (defaults filled in), or Invalid naming the bad one."""
    try:
        model = info(name).parameters.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise Invalid(f"parameters.{where}: {first['msg']}", field=f"parameters.{where}") from None
    return model.model_dump()


class ConfigUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool | None = None
    auto_launch: bool | None = None
    parameters: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ConfigView:
    pipeline: PipelineInfo
    enabled: bool
    auto_launch: bool
    parameters: dict[str, Any]


def _view(name: str, row: PipelineConfig | None) -> ConfigView:
    pipeline = info(name)
    if row is None:
        return ConfigView(pipeline, False, False, check_parameters(name, {}))
    return ConfigView(
        pipeline, row.enabled, row.auto_launch, check_parameters(name, row.parameters)
    )


def list_configs(ctx: Context, actor: Actor, project: str) -> list[ConfigView]:
    with ctx.db.read() as db:
        proj = projects.load(db, actor, project, Action.READ)
        rows = {
            r.pipeline: r
            for r in db.scalars(select(PipelineConfig).where(PipelineConfig.project_id == proj.id))
        }
    return [_view(name, rows.get(name)) for name in ORDER]


def get_config(ctx: Context, actor: Actor, project: str, name: str) -> ConfigView:
    info(name)
    return next(v for v in list_configs(ctx, actor, project) if v.pipeline.name == name)


def configure(
    ctx: Context, actor: Actor, project: str, name: str, update: ConfigUpdate
) -> ConfigView:
    info(name)
    with ctx.db.write() as db:
        proj = projects.load(db, actor, project, Action.CONFIGURE)
        row = db.scalar(
            select(PipelineConfig).where(
                PipelineConfig.project_id == proj.id, PipelineConfig.pipeline == name
            )
        )
        if row is None:
            row = PipelineConfig(
                project_id=proj.id, pipeline=name, enabled=False, auto_launch=False, parameters={}
            )
            db.add(row)
        if update.enabled is not None:
            row.enabled = update.enabled
        if update.auto_launch is not None:
            row.auto_launch = update.auto_launch
        if update.parameters is not None:
            # Stored as given (defaults stay defaults when a later version changes them).
            check_parameters(name, update.parameters)
            row.parameters = dict(update.parameters)
        db.flush()
        audit.record(
            db,
            actor,
            AuditAction.PIPELINE_CONFIGURED,
            project=project,
            target=name,
            enabled=row.enabled,
            auto_launch=row.auto_launch,
            parameters=row.parameters,
        )
        return _view(name, row)
