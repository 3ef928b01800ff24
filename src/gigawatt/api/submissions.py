"""Group commit for ``POST /v1/jobs``: concurrent submissions share one transaction.

While one batch is being inserted (in a worker thread), the submissions that arrive wait in
this app's :class:`SubmissionBatcher`; when that batch commits, all of them go in the next
one together (:func:`gigawatt.services.jobs.submit_many`: one multi-row INSERT, one commit,
one wake-up of the control loop). A quiet server commits each submission at once, alone; a
busy one commits more of them per transaction, without a timer. Each submission still gets
its own answer: a refused one its own error, and if a batch fails on the database's side,
its submissions are retried one by one so that one bad row does not fail the others.

The batcher lives on the event loop (no locks): each event loop that submits through it (a
server has one; test clients may make several) has its own queue and draining task.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Sequence

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import State

from gigawatt.core.errors import GigawattError
from gigawatt.services import jobs
from gigawatt.services.auth import Principal
from gigawatt.services.platform import Platform
from gigawatt.services.views import JobView

_Pending = tuple[Principal, jobs.JobSpec, "asyncio.Future[JobView]"]


class _Queue:
    """The submissions waiting on one event loop, and the task that commits them."""

    def __init__(self) -> None:
        self.pending: list[_Pending] = []
        self.draining: asyncio.Task[None] | None = None


class SubmissionBatcher:
    """Queues an app's concurrent submissions in shared transactions (one at a time per
    event loop; an app normally runs on one)."""

    def __init__(self, platform: Platform, max_batch: int = 500) -> None:
        self.platform = platform
        self.max_batch = max_batch
        self._queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Queue] = (
            weakref.WeakKeyDictionary()
        )

    async def submit(self, principal: Principal, spec: jobs.JobSpec) -> JobView:
        """Queue the job (with whatever else is waiting); its view, or its refusal raised."""
        loop = asyncio.get_running_loop()
        queue = self._queues.get(loop)
        if queue is None:
            queue = self._queues[loop] = _Queue()
        future: asyncio.Future[JobView] = loop.create_future()
        queue.pending.append((principal, spec, future))
        if queue.draining is None or queue.draining.done():
            queue.draining = loop.create_task(self._drain(queue))
        return await future

    async def _drain(self, queue: _Queue) -> None:
        while queue.pending:
            batch = queue.pending[: self.max_batch]
            del queue.pending[: self.max_batch]
            try:
                await self._insert(batch)
            except asyncio.CancelledError:  # the loop is closing: no one is left to answer
                for *_, future in [*batch, *queue.pending]:
                    future.cancel()
                raise
            except Exception as exc:  # handed to the requests
                for *_, future in batch:
                    if not future.done():
                        future.set_exception(exc)

    async def _insert(self, batch: Sequence[_Pending]) -> None:
        submissions = [(principal, spec) for principal, spec, _ in batch]
        try:
            results = await run_in_threadpool(jobs.submit_many, self.platform, submissions)
        except Exception:
            if len(batch) == 1:
                raise
            for one in batch:  # one at a time: each gets its own answer
                try:
                    await self._insert([one])
                except Exception as exc:  # handed to its request
                    if not one[2].done():
                        one[2].set_exception(exc)
            return
        for (_, _, future), result in zip(batch, results, strict=True):
            if future.done():  # its request was cancelled meanwhile
                continue
            if isinstance(result, GigawattError):
                future.set_exception(result)
            else:
                future.set_result(result)


def submission_batcher(state: State, platform: Platform) -> SubmissionBatcher:
    """The batcher of the app whose ``state`` this is (made on first use; one per app)."""
    batcher = getattr(state, "submission_batcher", None)
    if not isinstance(batcher, SubmissionBatcher):
        batcher = SubmissionBatcher(platform)
        state.submission_batcher = batcher
    return batcher
