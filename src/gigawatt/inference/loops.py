"""Background work of a gateway process: replica health probes, deployment reconciliation,
and pruning of old per-minute counters. Runs as one asyncio task for the app's lifetime;
a failing step is logged and retried at the next turn, never fatal.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from gigawatt.inference import deployments, repo
from gigawatt.inference.limits import WINDOW_S
from gigawatt.store.db import transaction

if TYPE_CHECKING:
    from gigawatt.inference.gateway import Gateway

log = logging.getLogger(__name__)
_PRUNE_EVERY_S = 300.0
_KEEP_MINUTES = 60


async def background(gateway: Gateway) -> None:
    """Probe replicas every health interval; reconcile deployments; prune counters."""
    settings = gateway.deps.settings
    clock = gateway.deps.clock
    last_reconcile = last_prune = -1e18
    while True:
        now = clock.now()
        try:
            if now - last_reconcile >= settings.reconcile_interval_s:
                last_reconcile = now
                await gateway.db(lambda: deployments.reconcile(gateway.deps))
            await gateway.db(lambda: gateway.balancer.refresh(force=True))
            await gateway.balancer.probe(gateway.http)
            if now - last_prune >= _PRUNE_EVERY_S:
                last_prune = now
                await gateway.db(lambda: prune(gateway))
        except asyncio.CancelledError:
            raise
        except Exception:  # keep serving; the next turn retries
            log.exception("inference background step failed")
        await asyncio.sleep(settings.health_interval_s)


def prune(gateway: Gateway) -> int:
    """Delete per-minute counters older than an hour."""
    minute = int(gateway.deps.clock.now() // WINDOW_S) - _KEEP_MINUTES
    with transaction(gateway.deps.sessions) as s:
        return repo.prune_minute_counters(s, minute)
