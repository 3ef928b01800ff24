"""Inference series for ``/metrics``.

- ``gigawatt_inference_requests_total{model,status}`` and
  ``gigawatt_inference_tokens_total{model,kind}`` — read from the usage records at scrape time,
  so every gateway process sharing the database reports the same totals;
- ``gigawatt_inference_request_seconds{model}`` — a histogram of request durations (admission
  to usage record) measured by this process;
- ``gigawatt_inference_upstream_failures_total{upstream}``, ``..._served_total{upstream}`` and
  ``gigawatt_inference_upstream_cooling{upstream}`` — this process's view of its upstreams.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from gigawatt.store.db import transaction
from gigawatt.store.inference_models import TokenUsageModel

if TYPE_CHECKING:
    from gigawatt.inference.gateway import Gateway

#: Upper bounds (seconds) of the duration histogram's buckets.
BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


@dataclass
class Durations:
    """One model's request durations, bucketed."""

    counts: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS_S) + 1))
    total_s: float = 0.0


class GatewayStats:
    """What one gateway process measures (owned by its :class:`Gateway`)."""

    def __init__(self) -> None:
        self.durations: dict[str, Durations] = {}

    def observe(self, model: str, seconds: float) -> None:
        """Count one request of ``model`` that took ``seconds``."""
        found = self.durations.get(model)
        if found is None:
            if len(self.durations) > 1000:
                return  # a bound on the label set
            found = self.durations[model] = Durations()
        found.counts[bisect.bisect_left(BUCKETS_S, seconds)] += 1
        found.total_s += max(0.0, seconds)


class InferenceCollector(Collector):
    """The inference series of one app's registry."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    def collect(self) -> Iterator[Metric]:
        """Totals from the database, durations and upstream health from this process."""
        requests = CounterMetricFamily(
            "gigawatt_inference_requests",
            "Inference requests metered, by model and how they ended",
            labels=["model", "status"],
        )
        tokens = CounterMetricFamily(
            "gigawatt_inference_tokens",
            "Tokens metered, by model and kind (prompt, completion)",
            labels=["model", "kind"],
        )
        u = TokenUsageModel
        query = select(
            u.model,
            u.status,
            func.count(),
            func.sum(u.prompt_tokens),
            func.sum(u.completion_tokens),
        ).group_by(u.model, u.status)
        by_model: dict[str, tuple[int, int]] = {}
        with transaction(self.gateway.deps.sessions) as s:
            for model, status, count, prompt, completion in s.execute(query):
                requests.add_metric([model, status], count)
                old = by_model.get(model, (0, 0))
                by_model[model] = (old[0] + int(prompt or 0), old[1] + int(completion or 0))
        for model, (prompt, completion) in sorted(by_model.items()):
            tokens.add_metric([model, "prompt"], prompt)
            tokens.add_metric([model, "completion"], completion)
        yield requests
        yield tokens
        yield self._durations()
        yield from self._upstreams()

    def _durations(self) -> Metric:
        family = HistogramMetricFamily(
            "gigawatt_inference_request_seconds",
            "Inference request duration, admission to usage record (this process)",
            labels=["model"],
        )
        for model, d in sorted(self.gateway.stats.durations.items()):
            cumulative, buckets = 0, []
            for bound, count in zip([*map(str, BUCKETS_S), "+Inf"], d.counts, strict=True):
                cumulative += count
                buckets.append((bound, float(cumulative)))
            family.add_metric([model], buckets, d.total_s)
        return family

    def _upstreams(self) -> Iterator[Metric]:
        failures = CounterMetricFamily(
            "gigawatt_inference_upstream_failures",
            "Failed attempts per upstream (this process; retried or not)",
            labels=["upstream"],
        )
        served = CounterMetricFamily(
            "gigawatt_inference_upstream_served",
            "Successful attempts per upstream (this process)",
            labels=["upstream"],
        )
        cooling = GaugeMetricFamily(
            "gigawatt_inference_upstream_cooling",
            "1 while an upstream is cooling down after repeated failures (this process)",
            labels=["upstream"],
        )
        now = self.gateway.deps.clock.now()
        for key, health in sorted(self.gateway.router.snapshot().items()):
            failures.add_metric([key], health.failed)
            served.add_metric([key], health.served)
            cooling.add_metric([key], 1.0 if health.cooldown_until > now else 0.0)
        yield failures
        yield served
        yield cooling
