"""``fifo`` against ``fifo-skip`` (the FIFO of published simulators), and censored waits: a job
that never started counts in the queueing figures with its wait up to the end of the run."""

from __future__ import annotations

import pytest
from sim_helpers import jobs_workload, make_twin

from gigawatt.billing.prices import PriceBook
from gigawatt.core.catalogue import Catalogue
from gigawatt.core.fleet import uniform_fleet
from gigawatt.core.tiers import Tier
from gigawatt.scheduling.model import Ordering
from gigawatt.sim.metrics import summarise

#: On one 8-GPU node: a 4-GPU job runs 0-100 s; an 8-GPU job arrives at 1 s (does not fit);
#: a 2-GPU job arrives at 2 s (fits beside the first).
BLOCKED = [
    (0.0, 100.0, 4, Tier.INTERNAL),
    (1.0, 10.0, 8, Tier.INTERNAL),
    (2.0, 1_000.0, 2, Tier.INTERNAL),
]


@pytest.mark.parametrize(
    ("ordering", "first_starts"),
    [
        # strict FIFO: the 2-GPU job waits behind the 8-GPU head until it has run (100-110 s)
        (Ordering.FIFO, [0.0, 100.0, 110.0]),
        # fifo-skip: the 2-GPU job skips the head and starts at once; the head waits for it
        (Ordering.FIFO_SKIP, [0.0, 1_002.0, 2.0]),
    ],
)
def test_fifo_blocks_and_fifo_skip_skips(
    catalogue: Catalogue, ordering: Ordering, first_starts: list[float]
) -> None:
    twin, _ = make_twin(jobs_workload(BLOCKED), uniform_fleet(8, "H100", catalogue), catalogue,
                        ordering=ordering)  # fmt: skip
    twin.run()
    assert twin.first_start == first_starts


def test_jobs_that_never_started_count_as_censored_waits(catalogue: Catalogue) -> None:
    # the fleet is busy until 1,000 s; a job arriving at 10 s is still queued at the 500 s horizon
    w = jobs_workload([(0.0, 1_000.0, 8, Tier.RESERVED), (10.0, 50.0, 8, Tier.SPOT)])
    twin, _ = make_twin(w, uniform_fleet(8, "H100", catalogue), catalogue)
    end = twin.run(horizon_s=500.0)
    prices = PriceBook.from_catalogue(catalogue)
    s = summarise(twin, end, prices, wall_s=1.0, warmup="none").summary
    assert s["jobs_never_started"] == 1 and s["jobs_cancelled"] == 2
    assert s["mean_queue_s"] == pytest.approx((0.0 + 490.0) / 2)
    assert s["by_tier"]["spot"]["queue_s"]["mean"] == pytest.approx(490.0)
