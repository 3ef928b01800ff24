"""Jobs as other subsystems see them (the inference gateway's replica jobs)."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence

from gigawatt.core.errors import Conflict
from gigawatt.core.tiers import Tier
from gigawatt.services import jobs, tenants
from gigawatt.services.auth import ADMIN, Principal
from gigawatt.services.platform import Platform


class PlatformJobs:
    """Submit, read and cancel jobs on behalf of a tenant, without an API key."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform

    def submit(
        self,
        tenant_id: str,
        name: str,
        command: Sequence[str],
        gpus: int,
        gpu_type: str,
        tier: str,
        env: Mapping[str, str],
    ) -> str:
        """Queue a job for ``tenant_id``; returns its id (4xx errors as for the API)."""
        tenant = tenants.get_tenant(self.platform, tenant_id)
        caller = Principal(False, tenant.id, tenant.kind, None)
        spec = jobs.JobSpec(name, tuple(command), gpus, gpu_type, Tier(tier), None, dict(env))
        return jobs.submit(self.platform, caller, spec).id

    def status(self, job_id: str) -> str:
        """The job's visible status."""
        return jobs.get_job(self.platform, ADMIN, job_id).status

    def cancel(self, job_id: str) -> None:
        """Cancel the job; nothing happens if it already ended."""
        with contextlib.suppress(Conflict):
            jobs.cancel(self.platform, ADMIN, job_id)
