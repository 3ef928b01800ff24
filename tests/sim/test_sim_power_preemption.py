"""A preemptor waiting on a power-capped site keeps the power its victims free.

Regression: on the two-site test fleet (site ``a``: 32 H100 under a 30 kW cap, 21 GPUs' worth),
the mixed workload with seed 2 once livelocked at t = 61,907 s: requeued spot victims restarted
on another node of the site and took the power freed for the internal preemptor, which then had
other spot work preempted, forever. The run must end, every job in one terminal state.
"""

from __future__ import annotations

import math

import pytest
from sim_helpers import make_twin, two_site_fleet
from test_sim_twin import MIXED

from gigawatt.core.catalogue import Catalogue
from gigawatt.sim.generator import generate
from gigawatt.sim.timeline import build_timeline
from gigawatt.sim.twin import TERMINAL
from gigawatt.sim.workload_file import parse_workload


def test_a_run_with_power_capped_preemption_ends(catalogue: Catalogue) -> None:
    fleet = two_site_fleet()
    w = generate(parse_workload(MIXED), fleet, catalogue, seed=2, days=0.5)
    twin, sched = make_twin(w, fleet, catalogue, seed=2)  # checks caps after every pass
    end = twin.run()  # no horizon: runs until every job has ended
    assert end > 61_907.0
    assert all(s in TERMINAL for s in twin.status)
    assert 0 < twin.preemptions < len(w)
    tl = build_timeline(twin, float(w.submit_s[0]), end)
    assert math.fsum(twin.gpu_s) == pytest.approx(tl.gpu_seconds, rel=1e-9)
    assert not sched.inner.running_jobs() and not sched.inner.queued_jobs()
