"""Keeping the scheduler's queue in line with the queued jobs in the database, per tick.

The plain way reads the id of every queued job (10,000 on the benchmark fleet: 15–35 ms of a
tick, most of it the database visiting 10,000 table rows) and diffs them against what the loop
knows. On SQLite a tick reads much less, and stays exact: under the tick's ``BEGIN IMMEDIATE``
nothing else writes, a new job always gets a higher ``rowid`` than every job before it, jobs
are never deleted, and the status index's entries carry the ``rowid``. So

- the queued jobs inserted since the last sync are those with a higher ``rowid`` (a range read
  of just those rows);
- the jobs the loop itself put back in the queue (preempted, node lost, could not start) are
  known to it (:attr:`LiveState.requeued`);
- when the count of queued jobs (read in the status index alone) is not what the loop
  expects, something left the queue behind its back (a cancel through the API): the
  ``rowid`` of every queued job, again read in the status index alone, says which;
- every :data:`FULL_EVERY` syncs, and whenever the above does not add up, the full read runs.

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
    due = live.queue_mark is None or live.syncs % FULL_EVERY == 0
    if due or not _incremental(s, live, submit):
        _full(s, live, submit)


def _incremental(s: Session, live: LiveState, submit: Submit) -> bool:
    """The incremental sync (SQLite); False (nothing changed) when the full read is needed."""
    assert live.queue_mark is not None
    known = live.queued_rowid
    if any(job_id not in known for job_id in live.queued):
        return False
    inserted, top = jobs_repo.queued_after(s, live.queue_mark)
    fresh = [j for _, j in inserted if j not in live.queued]
    wanted = fresh + sorted(j for j in live.requeued if j not in live.queued and j not in fresh)
    jobs = jobs_repo.jobs_by_ids(s, set(wanted)) if wanted else []
    new = [job for job in jobs if job.status == JobStatus.QUEUED.value]
    rowids = {j: r for r, j in inserted}
    missing = [job.id for job in new if job.id not in rowids]
    if missing:
        rowids.update(jobs_repo.rowids_of(s, missing))
    if any(job.id not in rowids for job in new):
        return False
    expected = len(live.queued) + len(new)
    gone: list[str] = []
    if jobs_repo.queued_count(s) != expected:
        present = jobs_repo.queued_rowids(s)
        gone = [j for j in live.queued if known[j] not in present]
        ours = {known[j] for j in live.queued} | {rowids[job.id] for job in new}
        if len(present) != expected - len(gone) or not present <= ours:
            return False
    for job_id in gone:
        live.forget_queued(job_id)
    live.queue_mark = top
    live.requeued.clear()
    for job in new:
        known[job.id] = rowids[job.id]
    _prune(live)
    order = {job_id: k for k, job_id in enumerate(wanted)}
    submit(sorted(new, key=lambda job: (job.submitted_at, order[job.id])))
    return True


def _full(s: Session, live: LiveState, submit: Submit) -> None:
    """Read every queued id and diff: new ones queued, those gone dropped."""
    mark = jobs_repo.last_rowid(s)
    if mark is None:
        rows = jobs_repo.queued_ids(s)
    else:
        with_rowids = jobs_repo.queued_ids_rowids(s)
        rows = [(j, t) for j, t, _ in with_rowids]
        live.queued_rowid = {j: r for j, _, r in with_rowids}
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


def _prune(live: LiveState) -> None:
    """Forget the ``rowid`` of jobs no longer queued once they outnumber the queued ones."""
    if len(live.queued_rowid) > 2 * len(live.queued) + 64:
        live.queued_rowid = {j: r for j, r in live.queued_rowid.items() if j in live.queued}
