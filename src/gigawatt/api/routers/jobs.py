"""``/v1/jobs``: submit, list, show, cancel, logs. A tenant sees only its own jobs."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from gigawatt.api.deps import CallerDep, PlatformDep
from gigawatt.api.paging import CursorQ, set_next_cursor
from gigawatt.api.schemas import JobIn, JobOut, LogsOut
from gigawatt.api.submissions import submission_batcher
from gigawatt.core.tiers import JobStatus
from gigawatt.services import jobs
from gigawatt.services.views import JobView

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


def job_out(view: JobView) -> JobOut:
    """Response body of a job."""
    return JobOut.model_validate(asdict(view))


@router.post("", status_code=201, response_model=JobOut)
async def submit_job(body: JobIn, request: Request, caller: CallerDep) -> Response:
    """Queue a job. A job that could never run is refused here (422), never queued forever."""
    spec = jobs.JobSpec(
        name=body.name,
        command=tuple(body.command),
        gpus=body.gpus,
        gpu_type=body.gpu_type,
        tier=body.tier,
        max_runtime_s=body.max_runtime_s,
        env=dict(body.env),
        priority=body.priority,
        limits=body.limits.model_dump(exclude_none=True) if body.limits is not None else None,
    )
    # Inserted with the other submissions waiting meanwhile (one transaction), the body
    # serialised once (a Response is not validated again against ``response_model``, which
    # stays for the OpenAPI schema).
    state = request.app.state
    view = await submission_batcher(state, state.platform).submit(caller, spec)
    content = JobOut.model_validate(view, from_attributes=True).model_dump_json()
    return Response(content, status_code=201, media_type="application/json")


@router.get("", response_model=list[JobOut])
def list_jobs(
    platform: PlatformDep,
    caller: CallerDep,
    response: Response,
    status: JobStatus | None = None,
    tenant_id: Annotated[str | None, Query(max_length=64)] = None,
    tenant: Annotated[str | None, Query(max_length=64, description="alias of tenant_id")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: CursorQ = None,
) -> list[JobOut]:
    """The caller's jobs, newest first (admin: every tenant's, or ``tenant_id``'s). More
    pages: pass the ``X-Next-Cursor`` response header back as ``cursor``."""
    page = jobs.list_jobs_page(platform, caller, status, tenant_id or tenant, limit, cursor)
    set_next_cursor(response, page.next_cursor)
    return [job_out(v) for v in page.items]


@router.get("/{job_id}", response_model=JobOut)
def get_job(job_id: str, platform: PlatformDep, caller: CallerDep) -> JobOut:
    """One job with its attempts (404 for another tenant's job)."""
    return job_out(jobs.get_job(platform, caller, job_id))


@router.post("/{job_id}/cancel", response_model=JobOut)
def cancel_job(job_id: str, platform: PlatformDep, caller: CallerDep) -> JobOut:
    """Cancel: a queued job at once; a running one gets SIGTERM, then SIGKILL after the grace
    period, and ends ``cancelled`` (``cancel_requested`` is true meanwhile)."""
    return job_out(jobs.cancel(platform, caller, job_id))


@router.get("/{job_id}/logs", response_model=LogsOut)
def job_logs(
    job_id: str,
    platform: PlatformDep,
    caller: CallerDep,
    attempt: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
) -> LogsOut:
    """Captured output of the latest attempt (or of ``attempt``)."""
    number, text = jobs.logs(platform, caller, job_id, attempt)
    return LogsOut(job_id=job_id, attempt=number, logs=text)
