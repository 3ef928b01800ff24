"""Sales limits: reservations, the internal floor and the external cap (fleet-wide GPU counts).

- A reserved job is *within* its tenant's reservation when the tenant's running reserved GPUs of
  that type plus the job's stay within the reservation; such jobs are guaranteed (they may preempt
  spot) and exempt from the internal floor (a reservation is a contract; size floor and
  reservations to fit the fleet).
- ``internal_floor_gpus``: non-preemptible external work (on-demand, reserved beyond a
  reservation) may hold at most ``total - floor`` GPUs, so internal work can always reach its floor
  by preempting spot.
- ``external_cap_gpus``: all external tiers together hold at most this many GPUs.
"""

from __future__ import annotations

from typing import Final

from gigawatt.core.errors import Unschedulable
from gigawatt.core.tiers import Tier
from gigawatt.scheduling.model import JobRequest, SchedulingPolicy

# Bound once (see scheduler.py): no type lookup per call in the compiled module.
_INTERNAL: Final = Tier.INTERNAL
_RESERVED: Final = Tier.RESERVED
_ON_DEMAND: Final = Tier.ON_DEMAND
_SPOT: Final = Tier.SPOT


class Admission:
    """Counters of GPUs in use by sales category, and the checks against the policy limits."""

    def __init__(self, policy: SchedulingPolicy, total_gpus: int) -> None:
        self.policy = policy
        self.total_gpus = total_gpus
        self.internal_gpus = 0
        self.external_gpus = 0
        #: on-demand + reserved beyond reservations (what the floor limits)
        self.firm_external_gpus = 0
        self._reserved_in_use: dict[tuple[str, str], int] = {}
        self._reservations = {(r.tenant, r.gpu_type): 0 for r in policy.reservations}
        for r in policy.reservations:
            self._reservations[(r.tenant, r.gpu_type)] += r.gpus
        #: whether any tenant reserved GPUs: without, no reserved job is ever within one, and
        #: the per-tenant counts (read only by that test) need not be kept
        self._any_reservation = any(g > 0 for g in self._reservations.values())

    def check(self, job: JobRequest) -> None:
        """Refuse at submit a job the external cap could never admit."""
        cap = self.policy.external_cap_gpus
        if job.tier.external and cap is not None and job.gpus > cap:
            raise Unschedulable(
                f"{job.gpus} GPUs exceed the {cap} GPUs this fleet sells to external customers"
            )

    def within_reservation(self, job: JobRequest) -> bool:
        """Whether ``job`` (reserved tier) fits in what its tenant has reserved and not used."""
        if not self._any_reservation:
            return False
        key = (job.tenant, job.gpu_type)
        reserved = self._reservations.get(key, 0)
        return self._reserved_in_use.get(key, 0) + job.gpus <= reserved

    def admits(self, job: JobRequest) -> bool:
        """Whether the policy limits let ``job`` start now (capacity is checked elsewhere)."""
        if job.tier is _INTERNAL:
            return True
        cap = self.policy.external_cap_gpus
        if cap is not None and self.external_gpus + job.gpus > cap:
            return False
        if job.tier is _SPOT:
            return True
        if job.tier is _RESERVED and self.within_reservation(job):
            return True
        floor = self.policy.internal_floor_gpus
        return self.firm_external_gpus + job.gpus <= self.total_gpus - floor

    def add(self, job: JobRequest, within_reservation: bool) -> None:
        """Count a job that now holds GPUs."""
        self._count(job, within_reservation, job.gpus)

    def remove(self, job: JobRequest, within_reservation: bool) -> None:
        """Stop counting a job whose allocation ended."""
        self._count(job, within_reservation, -job.gpus)

    def _count(self, job: JobRequest, within_reservation: bool, gpus: int) -> None:
        if job.tier is _INTERNAL:
            self.internal_gpus += gpus
            return
        self.external_gpus += gpus
        if job.tier is _RESERVED and self._any_reservation:
            key = (job.tenant, job.gpu_type)
            self._reserved_in_use[key] = self._reserved_in_use.get(key, 0) + gpus
        if job.tier is _ON_DEMAND or (job.tier is _RESERVED and not within_reservation):
            self.firm_external_gpus += gpus
