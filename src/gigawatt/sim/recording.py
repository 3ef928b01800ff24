"""A scheduler wrapper that records every call and decision (tests and debugging).

The twin accepts any object with ``submit``, ``cancel``, ``release`` and ``schedule`` (and the
read-only ``request``, ``running_jobs``, ``queued_jobs``, forwarded unrecorded); wrapping
the live scheduler in :class:`RecordingScheduler` gives the exact sequence of what the twin
asked and what the scheduler decided, which tests replay through a fresh scheduler.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gigawatt.scheduling.model import Decision, JobRequest, Placement, Start
from gigawatt.scheduling.scheduler import Scheduler

#: One scheduling pass: time, starts ``(job_id, placement)``, preemptions ``(victim, for)``.
PassRecord = tuple[float, tuple[tuple[str, Placement], ...], tuple[tuple[str, str], ...]]


def pass_record(now: float, decision: Decision) -> PassRecord:
    """A comparable summary of one decision."""
    return (
        now,
        tuple((s.job.job_id, s.placement) for s in decision.starts),
        tuple((p.job_id, p.for_job_id) for p in decision.preemptions),
    )


@dataclass
class RecordingScheduler:
    """Forwards to ``inner`` and appends ``(call, argument)`` to ``calls``, passes to ``passes``."""

    inner: Scheduler
    calls: list[tuple[str, object]] = field(default_factory=list)
    passes: list[PassRecord] = field(default_factory=list)

    def submit(self, job: JobRequest) -> None:
        """Record, then submit."""
        self.calls.append(("submit", job))
        self.inner.submit(job)

    def offer(self, job: JobRequest, now: float) -> Start | None:
        """Offer; recorded as the submission and, when the job started, the pass it stands
        for (so a replay through :meth:`submit` and :meth:`schedule` decides the same)."""
        start = self.inner.offer(job, now)
        self.calls.append(("submit", job))
        if start is not None:
            self.calls.append(("schedule", now))
            self.passes.append(pass_record(now, Decision([start])))
        return start

    def cancel(self, job_id: str) -> bool:
        """Record, then cancel."""
        self.calls.append(("cancel", job_id))
        return self.inner.cancel(job_id)

    def release(self, job_id: str) -> None:
        """Record, then release."""
        self.calls.append(("release", job_id))
        self.inner.release(job_id)

    def schedule(self, now: float) -> Decision:
        """Record the pass and its decision."""
        decision = self.inner.schedule(now)
        self.calls.append(("schedule", now))
        self.passes.append(pass_record(now, decision))
        return decision

    def request(self, job_id: str) -> JobRequest | None:
        """The inner scheduler's queued or running job (not recorded: it changes nothing)."""
        return self.inner.request(job_id)

    def running_jobs(self) -> list[JobRequest]:
        """The inner scheduler's running jobs (not recorded)."""
        return self.inner.running_jobs()

    def queued_jobs(self) -> list[JobRequest]:
        """The inner scheduler's queued jobs (not recorded)."""
        return self.inner.queued_jobs()
