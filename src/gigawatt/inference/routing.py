"""Routing across a model's upstreams: weighted balancing, cooldown and probe-back, retries.

Each gateway process keeps, per upstream (URL and model name), its consecutive failures and
whether it is cooling down. :meth:`UpstreamRouter.pick` chooses among a model's routes that
are not cooling down and not yet tried for this request, by smooth weighted round-robin (the
nginx algorithm: over any window the shares follow the weights exactly, without bursts).

An upstream that fails ``cooldown_after`` times in a row cools down for ``cooldown_s``
seconds; once that has passed, the next request routed to it is its probe: a success puts it
back in rotation, a failure cools it down again for twice as long (up to ``max_cooldown_s``).
When every route is cooling down, the one whose cooldown ends first is tried anyway rather
than refusing the request (no upstream is left out for good).

:func:`backoff_s` is the pause before a retry: doubling from ``retry_backoff_s``, bounded by
``retry_backoff_max_s``. Which failures are retried is the gateway's decision (connect
errors, 5xx, a timeout or broken answer before the first byte reached the client).
"""

from __future__ import annotations

from dataclasses import dataclass

from gigawatt.core.clock import Clock
from gigawatt.inference.registry import Route


@dataclass
class UpstreamHealth:
    """What this process knows of one upstream."""

    failures: int = 0
    cooldown_until: float = float("-inf")
    cooldowns: int = 0
    current_weight: int = 0
    last_error: str = ""
    served: int = 0
    failed: int = 0


@dataclass(frozen=True, slots=True)
class RoutingPolicy:
    """Retry and cooldown tunables (from the gateway's ``InferenceSettings``)."""

    cooldown_after: int = 3
    cooldown_s: float = 10.0
    max_cooldown_s: float = 300.0
    retry_backoff_s: float = 0.05
    retry_backoff_max_s: float = 1.0


def route_key(route: Route) -> str:
    """The key an upstream's health is kept under (and that a request's tried set holds)."""
    return f"{route.url}#{route.model}"


def backoff_s(retry: int, policy: RoutingPolicy) -> float:
    """The pause before retry number ``retry`` (1, 2, …): doubling, bounded."""
    if retry <= 0:
        return 0.0
    return float(min(policy.retry_backoff_max_s, policy.retry_backoff_s * 2 ** (retry - 1)))


class UpstreamRouter:
    """Health and weighted choice of upstream routes in one gateway process."""

    def __init__(self, clock: Clock, policy: RoutingPolicy) -> None:
        self._clock = clock
        self._policy = policy
        self._health: dict[str, UpstreamHealth] = {}

    def health(self, route: Route) -> UpstreamHealth:
        """The health record of ``route`` (created on first use)."""
        key = route_key(route)
        found = self._health.get(key)
        if found is None:
            if len(self._health) > 10_000:
                self._health.clear()
            found = self._health[key] = UpstreamHealth()
        return found

    def cooling(self, route: Route) -> bool:
        """Whether ``route`` is cooling down now."""
        return self.health(route).cooldown_until > self._clock.now()

    def pick(self, routes: tuple[Route, ...], tried: set[str]) -> Route | None:
        """The next route for a request that already tried ``tried`` (None: none left)."""
        fresh = [r for r in routes if route_key(r) not in tried]
        if not fresh:
            return None
        ready = [r for r in fresh if not self.cooling(r)]
        if not ready:  # all cooling down: try the one that recovers first
            return min(fresh, key=lambda r: self.health(r).cooldown_until)
        if len(ready) == 1:
            return ready[0]
        total = 0
        best: Route | None = None
        best_health: UpstreamHealth | None = None
        for route in ready:
            h = self.health(route)
            h.current_weight += route.weight
            total += route.weight
            if best_health is None or h.current_weight > best_health.current_weight:
                best, best_health = route, h
        assert best is not None and best_health is not None
        best_health.current_weight -= total
        return best

    def succeeded(self, route: Route) -> None:
        """The route answered: back in rotation."""
        h = self.health(route)
        h.failures = 0
        h.cooldowns = 0
        h.cooldown_until = float("-inf")
        h.served += 1

    def failed(self, route: Route, reason: str) -> None:
        """The route failed a request: count it, and cool it down at the threshold (at once
        when it was being probed after a cooldown)."""
        h = self.health(route)
        h.failures += 1
        h.failed += 1
        h.last_error = reason[:500]
        probing = h.cooldowns > 0
        if probing or h.failures >= self._policy.cooldown_after:
            p = self._policy
            length = min(p.max_cooldown_s, p.cooldown_s * 2**h.cooldowns)
            h.cooldown_until = self._clock.now() + length
            h.cooldowns += 1
            h.failures = 0

    def snapshot(self) -> dict[str, UpstreamHealth]:
        """Every upstream this process has routed to, by key (for views and metrics)."""
        return dict(self._health)
