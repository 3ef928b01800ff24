"""Prometheus metrics, read from the database at scrape time (so every replica agrees), plus
what this process's control loop measured (tick durations, the scheduler's queue).

Registered on a per-app :class:`~prometheus_client.CollectorRegistry` (no global registry).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from gigawatt.core.tiers import JobStatus, Tier
from gigawatt.services.platform import Platform
from gigawatt.store.db import transaction
from gigawatt.store.repositories import attempts as attempts_repo
from gigawatt.store.repositories import jobs as jobs_repo
from gigawatt.store.repositories import usage as usage_repo


class ControlPlaneCollector(Collector):
    """GPUs allocated by tier and type, queue by tier, jobs by state, revenue, site power."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform

    def collect(self) -> Iterator[Metric]:
        """One consistent read of the database per scrape."""
        p = self.platform
        with transaction(p.sessions) as s:
            groups = attempts_repo.allocation_counts(s)
            queued = jobs_repo.queued_by_tier(s)
            states = jobs_repo.count_by_status(s)
            revenue = usage_repo.revenue_by_tier(s)
        allocated = GaugeMetricFamily(
            "gigawatt_gpus_allocated", "GPUs allocated now", labels=["tier", "gpu_type"]
        )
        by_tier_type: dict[tuple[str, str], int] = {}
        fleet = p.state  # one snapshot: the file's fleet, or the nodes the backend discovered
        power: dict[str, float] = {name: 0.0 for name in fleet.sites}
        for site, gpu_type, tier, n in groups:
            key = (tier, gpu_type)
            by_tier_type[key] = by_tier_type.get(key, 0) + n
            power[site] = power.get(site, 0.0) + n * p.kw_per_gpu(gpu_type)
        for (tier, gpu_type), n in sorted(by_tier_type.items()):
            allocated.add_metric([tier, gpu_type], n)
        yield allocated
        total = GaugeMetricFamily("gigawatt_gpus_total", "GPUs in the fleet", labels=["gpu_type"])
        totals: dict[str, int] = {}
        for node in fleet.nodes.values():
            totals[node.gpu_type] = totals.get(node.gpu_type, 0) + node.gpus
        for gpu_type, n in sorted(totals.items()):
            total.add_metric([gpu_type], n)
        yield total
        queue = GaugeMetricFamily("gigawatt_queue_length", "Queued jobs", labels=["tier"])
        for tier in Tier:
            queue.add_metric([tier.value], queued.get(tier.value, 0))
        yield queue
        jobs = GaugeMetricFamily("gigawatt_jobs", "Jobs by state", labels=["state"])
        for state in JobStatus:
            jobs.add_metric([state.value], states.get(state.value, 0))
        yield jobs
        money = CounterMetricFamily(
            "gigawatt_revenue_usd", "Revenue booked (external usage)", labels=["tier"]
        )
        for tier in Tier:
            if tier.external:
                money.add_metric([tier.value], float(revenue.get(tier.value, 0)))
        yield money
        watts = GaugeMetricFamily(
            "gigawatt_site_power_kw", "IT power of allocated GPUs", labels=["site"]
        )
        cap = GaugeMetricFamily("gigawatt_site_power_cap_kw", "IT power budget", labels=["site"])
        for spec in fleet.sites.values():
            watts.add_metric([spec.name], power.get(spec.name, 0.0))
            cap.add_metric([spec.name], spec.it_power_mw * 1000.0)
        yield watts
        yield cap
        yield from _loop_metrics(p, sum(queued.values()))


def _loop_metrics(platform: Platform, queued_in_db: int) -> Iterator[Metric]:
    """``gigawatt_control_tick_seconds`` (ticks this process ran as leader) and
    ``gigawatt_scheduler_queue_jobs`` (the leader's scheduler queue; other replicas report
    the queued jobs in the database)."""
    snap = platform.control_stats.snapshot()
    ticks = HistogramMetricFamily(
        "gigawatt_control_tick_seconds", "Duration of control-loop ticks run as leader"
    )
    buckets = [("+Inf" if b == float("inf") else repr(b), n) for b, n in snap.buckets]
    ticks.add_metric([], buckets, sum_value=snap.sum_s)
    yield ticks
    yield GaugeMetricFamily(
        "gigawatt_scheduler_queue_jobs",
        "Jobs waiting in the scheduler's queue",
        value=queued_in_db if snap.queue_jobs is None else snap.queue_jobs,
    )


def registry_for(platform: Platform) -> CollectorRegistry:
    """A fresh registry with the control-plane collector registered."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ControlPlaneCollector(platform))
    return registry
