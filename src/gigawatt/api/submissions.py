"""Group commit for ``POST /v1/jobs``: concurrent submissions share one transaction.

While one batch is being inserted (in a worker thread), the submissions that arrive wait in
this app's :class:`SubmissionBatcher`; when that batch commits, all of them go in the next
one together (:func:`gigawatt.services.jobs.submit_many`: one multi-row INSERT, one commit,
one wake-up of the control loop). A quiet server commits each submission at once, alone; a
busy one commits more of them per transaction, without a timer. Each submission still gets
its own answer: a refused one its own error, and if a batch fails on the database's side,
its submissions are retried one by one so that one bad row does not fail the others.

The batcher lives on the event loop (no locks): its state belongs to the loop it was first
used on, and starts over on another loop (a test client's fresh loop).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import State

from gigawatt.core.errors import GigawattError
from gigawatt.services import jobs
from gigawatt.services.auth import Principal
from gigawatt.services.platform import Platform
from gigawatt.services.views import JobView

_Pending = tuple[Principal, jobs.JobSpec, "asyncio.Future[JobView]"]


class SubmissionBatcher:
    """Queues an app's concurrent submissions in shared transactions (one at a time)."""

    def __init__(self, platform: Platform, max_batch: int = 500) -> None:
        self.platform = platform
        self.max_batch = max_batch
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: list[_Pending] = []
        self._draining: asyncio.Task[None] | None = None

    async def submit(self, principal: Principal, spec: jobs.JobSpec) -> JobView:
        """Queue the job (with whatever else is waiting); its view, or its refusal raised."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # first use, or a new event loop: start over
            self._loop, self._pending, self._draining = loop, [], None
        future: asyncio.Future[JobView] = loop.create_future()
        self._pending.append((principal, spec, future))
        if self._draining is None or self._draining.done():
            self._draining = loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._pending:
            batch = self._pending[: self.max_batch]
            del self._pending[: self.max_batch]
            try:
                await self._insert(batch)
            except asyncio.CancelledError:  # the loop is closing: no one is left to answer
                for *_, future in [*batch, *self._pending]:
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
