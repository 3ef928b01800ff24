"""``/metrics`` shows how long control-loop ticks take and how many jobs the scheduler holds."""

from __future__ import annotations

from fastapi.testclient import TestClient
from services_support import submit, tenant

from gigawatt.api import create_app
from gigawatt.core.tiers import Tier
from gigawatt.services.control import ControlLoop
from gigawatt.services.platform import Platform


def _value(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in /metrics")


def test_metrics_show_tick_durations_and_the_scheduler_queue(platform: Platform) -> None:
    ext = tenant(platform, "ext")
    for _ in range(3):
        submit(platform, ext, gpus=8, tier=Tier.ON_DEMAND)  # the fleet has 16 GPUs: one waits
    with TestClient(create_app(platform, run_control_loop=False)) as client:
        text = client.get("/metrics").text
        assert _value(text, "gigawatt_control_tick_seconds_count") == 0
        assert _value(text, "gigawatt_scheduler_queue_jobs") == 3  # no leader here: the database
        loop = ControlLoop(platform, "loop")
        loop.tick()
        loop.tick()
        text = client.get("/metrics").text
    assert "# TYPE gigawatt_control_tick_seconds histogram" in text
    assert _value(text, "gigawatt_control_tick_seconds_count") == 2
    assert _value(text, 'gigawatt_control_tick_seconds_bucket{le="+Inf"}') == 2
    assert 0 < _value(text, "gigawatt_control_tick_seconds_sum") < 10
    assert "# TYPE gigawatt_scheduler_queue_jobs gauge" in text
    assert _value(text, "gigawatt_scheduler_queue_jobs") == 1  # the leader's scheduler queue
