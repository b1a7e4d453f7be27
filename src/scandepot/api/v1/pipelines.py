"""Pipelines: what the site offers, each project's settings, and jobs (launch, list,
read, log, re-run, cancel)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from scandepot.api.deps import ActorDep, CtxDep, PageDep
from scandepot.api.v1.schemas import API, PageOut, page_out
from scandepot.catalog.pipelines import Job, JobStatus
from scandepot.pipelines import config, jobs
from scandepot.pipelines.config import ConfigUpdate, ConfigView, PipelineInfo
from scandepot.pipelines.jobs import LaunchRequest
from scandepot.pipelines.records import job_record

router = APIRouter(tags=["pipelines"])
P = "/projects/{project}"


class PipelineOut(BaseModel):
    name: str
    title: str
    description: str
    runs_after: list[str]
    parameters: dict[str, Any]  # JSON Schema of the parameters, defaults included


class ConfigOut(BaseModel):
    pipeline: str
    title: str
    enabled: bool
    auto_launch: bool
    parameters: dict[str, Any]


class LaunchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pipeline: str = Field(max_length=32)
    parameters: dict[str, Any] | None = None


class JobOut(BaseModel):
    id: int
    project: str
    pipeline: str
    target: str
    parameters: dict[str, Any]
    status: str
    message: str
    outputs: dict[str, Any]
    versions: dict[str, str]
    launched_by: str
    after_job: int | None
    rerun_of: int | None
    attempts: int
    cancel_requested: bool
    worker: str | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    # Auto-launched jobs wait for their session to be complete; ``message`` says why.
    waiting_until: dt.datetime | None
    url: str
    log_url: str


def _pipeline_out(p: PipelineInfo) -> PipelineOut:
    return PipelineOut(
        name=p.name,
        title=p.title,
        description=p.description,
        runs_after=list(p.after),
        parameters=p.parameters.model_json_schema(),
    )


def _config_out(view: ConfigView) -> ConfigOut:
    return ConfigOut(
        pipeline=view.pipeline.name,
        title=view.pipeline.title,
        enabled=view.enabled,
        auto_launch=view.auto_launch,
        parameters=view.parameters,
    )


def job_out(project: str, job: Job) -> JobOut:
    url = f"{API}/projects/{project}/jobs/{job.id}"
    return JobOut(**job_record(project, job), url=url, log_url=f"{url}/log")


@router.get("/pipelines", response_model=list[PipelineOut])
def list_pipelines() -> list[PipelineOut]:
    return [_pipeline_out(config.info(name)) for name in config.ORDER]


@router.get(P + "/pipelines", response_model=list[ConfigOut])
def list_configs(ctx: CtxDep, actor: ActorDep, project: str) -> list[ConfigOut]:
    return [_config_out(v) for v in config.list_configs(ctx, actor, project)]


@router.get(P + "/pipelines/{pipeline}", response_model=ConfigOut)
def get_config(ctx: CtxDep, actor: ActorDep, project: str, pipeline: str) -> ConfigOut:
    return _config_out(config.get_config(ctx, actor, project, pipeline))


@router.patch(P + "/pipelines/{pipeline}", response_model=ConfigOut)
def configure(
    ctx: CtxDep, actor: ActorDep, project: str, pipeline: str, body: ConfigUpdate
) -> ConfigOut:
    """Enable or disable, set auto-launch and parameters (owners)."""
    return _config_out(config.configure(ctx, actor, project, pipeline, body))


def _launched(project: str, job: Job, response: Response) -> JobOut:
    out = job_out(project, job)
    response.headers["location"] = out.url
    return out


@router.post(
    P + "/sessions/{session}/jobs", response_model=JobOut, status_code=status.HTTP_202_ACCEPTED
)
def launch_on_session(
    ctx: CtxDep, actor: ActorDep, project: str, session: str, body: LaunchIn, response: Response
) -> JobOut:
    job = jobs.launch(ctx, actor, project, session, LaunchRequest(body.pipeline, body.parameters))
    return _launched(project, job, response)


@router.post(
    P + "/sessions/{session}/scans/{scan}/jobs",
    response_model=JobOut,
    status_code=status.HTTP_202_ACCEPTED,
)
def launch_on_scan(
    ctx: CtxDep,
    actor: ActorDep,
    project: str,
    session: str,
    scan: str,
    body: LaunchIn,
    response: Response,
) -> JobOut:
    request = LaunchRequest(body.pipeline, body.parameters)
    return _launched(
        project, jobs.launch(ctx, actor, project, session, request, scan=scan), response
    )


@router.get(P + "/jobs", response_model=PageOut[JobOut])
def list_jobs(
    ctx: CtxDep,
    actor: ActorDep,
    project: str,
    page: PageDep,
    status: JobStatus | None = None,
    pipeline: Annotated[str | None, Query(max_length=32)] = None,
    session: Annotated[str | None, Query(max_length=64)] = None,
) -> PageOut[JobOut]:
    found = jobs.list_jobs(
        ctx, actor, project, page, status=status, pipeline=pipeline, session=session
    )
    return page_out(found, lambda j: job_out(project, j))


@router.get(P + "/jobs/{job}", response_model=JobOut)
def get_job(ctx: CtxDep, actor: ActorDep, project: str, job: int) -> JobOut:
    return job_out(project, jobs.get(ctx, actor, project, job))


@router.get(P + "/jobs/{job}/log", response_class=PlainTextResponse)
def get_log(ctx: CtxDep, actor: ActorDep, project: str, job: int) -> PlainTextResponse:
    return PlainTextResponse(jobs.get(ctx, actor, project, job).log)


@router.post(P + "/jobs/{job}/rerun", response_model=JobOut, status_code=status.HTTP_202_ACCEPTED)
def rerun(ctx: CtxDep, actor: ActorDep, project: str, job: int, response: Response) -> JobOut:
    return _launched(project, jobs.rerun(ctx, actor, project, job), response)


@router.post(P + "/jobs/{job}/cancel", response_model=JobOut)
def cancel(ctx: CtxDep, actor: ActorDep, project: str, job: int) -> JobOut:
    return job_out(project, jobs.cancel(ctx, actor, project, job))
