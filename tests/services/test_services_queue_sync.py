"""The queue sync: on SQLite it reads only what was inserted since the last tick, yet a job
cancelled behind the loop's back (through the API) leaves the scheduler's queue at once, and
a requeued job comes back; on PostgreSQL every sync reads the whole queue."""

from __future__ import annotations

from services_support import status, submit, tenant

from gigawatt.backends.fake import FakeBackend
from gigawatt.core.clock import ManualClock
from gigawatt.core.tiers import Tier
from gigawatt.services import jobs
from gigawatt.services.auth import ADMIN
from gigawatt.services.control import ControlLoop
from gigawatt.services.platform import Platform


def test_the_queue_follows_submissions_cancels_and_requeues(
    platform: Platform, loop: ControlLoop, backend: FakeBackend, clock: ManualClock
) -> None:
    acme, own = tenant(platform, "acme"), tenant(platform, "own", "internal")
    running = submit(platform, acme, gpus=16, tier=Tier.SPOT)  # fills the fleet
    loop.tick()
    assert status(platform, running.id) == "running"
    live = loop.live
    assert live is not None
    waiting = [submit(platform, acme, gpus=8, tier=Tier.ON_DEMAND) for _ in range(3)]
    loop.tick()
    assert live.queued == {j.id for j in waiting}
    sqlite = platform.engine.dialect.name == "sqlite"
    assert (live.queue_mark is not None) is sqlite
    jobs.cancel(platform, ADMIN, waiting[1].id)  # straight to cancelled, not through the loop
    loop.tick()
    assert live.queued == {waiting[0].id, waiting[2].id}
    assert waiting[1].id not in {j.job_id for j in live.sched.queued_jobs()}
    # an internal job preempts the spot one, which comes back to the queue
    urgent = submit(platform, own, gpus=16, tier=Tier.INTERNAL)
    for _ in range(4):
        clock.advance(1.0)
        loop.tick()
    assert status(platform, running.id) == "queued"
    assert status(platform, urgent.id) == "running"
    assert running.id in live.queued and running.id in {j.job_id for j in live.sched.queued_jobs()}
    assert live.queued == {waiting[0].id, waiting[2].id, running.id}
