"""Keeping the scheduler's queue in line with the queued jobs in the database, per tick.

The plain way reads the ids of every queued job (10,000 on the benchmark fleet: 15–35 ms of a
tick, most of it the database fetching 10,000 rows) and diffs them against what the loop knows.
On SQLite a tick does less when it can prove the queue changed only as it knows: under the
tick's ``BEGIN IMMEDIATE`` nothing else writes, a new job always gets a higher ``rowid`` than
every job before it, and jobs are never deleted, so

- the queued jobs inserted since the last sync are those with a higher ``rowid`` (a range read
  of just those rows);
- the jobs the loop itself put back in the queue (preempted, node lost, could not start) are
  known to it (:attr:`LiveState.requeued`);
- anything else that left the queue (a cancel through the API) shows as a count of queued
  jobs (read in the status index alone) below what the loop expects: then, and every
  :data:`FULL_EVERY` syncs whatever the count says, the full read runs.

On PostgreSQL (no such insertion order) every sync is the full read.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy.orm import Session

from gigawatt.core.tiers import JobStatus
from gigawatt.services.live_state import LiveState
from gigawatt.store.models import JobModel
from gigawatt.store.repositories import jobs as jobs_repo

#: A full read at least every this many syncs (a safety net; about every 10 s at 0.25 s ticks).
FULL_EVERY = 40

Submit = Callable[[Sequence[JobModel]], None]


def sync_queue(s: Session, live: LiveState, submit: Submit) -> None:
    """Queue the jobs new to the queue (through ``submit``, in submission order) and drop
    those gone from it (cancelled): incrementally where it can, else by the full read."""
    live.syncs += 1
    if (
        live.queue_mark is not None
        and live.syncs % FULL_EVERY != 0
        and _incremental(s, live, submit)
    ):
        return
    _full(s, live, submit)


def _incremental(s: Session, live: LiveState, submit: Submit) -> bool:
    """The incremental sync; False (nothing done) when the full read is needed."""
    assert live.queue_mark is not None
    inserted, top = jobs_repo.queued_after(s, live.queue_mark)
    wanted = [j for j in (*inserted, *sorted(live.requeued)) if j not in live.queued]
    jobs = jobs_repo.jobs_by_ids(s, set(wanted)) if wanted else []
    new = [job for job in jobs if job.status == JobStatus.QUEUED.value]
    if jobs_repo.queued_count(s) != len(live.queued) + len(new):
        return False  # something left the queue behind the loop's back (or was never seen)
    live.queue_mark = top
    live.requeued.clear()
    order = {job_id: k for k, job_id in enumerate(wanted)}
    submit(sorted(new, key=lambda job: (job.submitted_at, order[job.id])))
    return True


def _full(s: Session, live: LiveState, submit: Submit) -> None:
    """Read every queued id and diff: new ones queued, those gone dropped."""
    mark = jobs_repo.last_rowid(s)
    rows = jobs_repo.queued_ids(s)
    queued = {job_id for job_id, _ in rows}
    for job_id in live.queued - queued:
        live.forget_queued(job_id)
    # new ones in submission order (ties: the order the database read them)
    new = sorted((t, k, j) for k, (j, t) in enumerate(rows) if j not in live.queued)
    live.queue_mark = mark
    live.requeued.clear()
    if new:
        found = {job.id: job for job in jobs_repo.jobs_by_ids(s, [j for _, _, j in new])}
        submit([found[j] for _, _, j in new if j in found])
