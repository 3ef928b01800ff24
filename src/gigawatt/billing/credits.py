"""Credits, and the reserved-preemption credit policy.

Policy (docs/billing.md): a reserved job within its reservation is guaranteed. If an attempt
of a ``reserved`` job is ever preempted, its tenant is credited

* everything billed for that attempt (the work was lost through no fault of the tenant), plus
* a penalty of 10 % of one hour of the attempt's GPUs at its price per GPU-hour.

Spot preemption gives no credit (spot is sold as preemptible and billed only for what ran);
on-demand is never preempted; internal work is not billed, so it earns no credit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from gigawatt.billing.checks import parse_money, parse_tier, require_int, require_text
from gigawatt.billing.periods import parse_period
from gigawatt.billing.prices import PriceBook
from gigawatt.core.errors import InvalidInput
from gigawatt.core.money import ZERO, round_micro
from gigawatt.core.tiers import Tier

if TYPE_CHECKING:
    from gigawatt.metering.records import UsageRecord

#: Share of one hour of the attempt's GPUs added to the refund as a penalty.
PREEMPTION_PENALTY_RATE = Decimal("0.10")
#: Hours of the attempt's GPUs the penalty is computed on.
PREEMPTION_PENALTY_HOURS = Decimal(1)


@dataclass(frozen=True, slots=True)
class Credit:
    """A credit granted to a tenant, shown as a negative line on its invoice for ``period``."""

    idempotency_key: str
    tenant: str
    tier: Tier
    amount_usd: Decimal
    reason: str
    at: float
    period: str

    def __post_init__(self) -> None:
        require_text(self.idempotency_key, "idempotency_key")
        require_text(self.tenant, "tenant")
        require_text(self.reason, "reason")
        object.__setattr__(self, "tier", parse_tier(self.tier))
        object.__setattr__(self, "amount_usd", parse_money(self.amount_usd, "amount_usd"))
        parse_period(self.period)


def preemption_credit_key(job_id: str, attempt: int) -> str:
    """Idempotency key of the credit for a preempted attempt: one credit per attempt."""
    return f"credit:preempt:{require_text(job_id, 'job_id')}:{require_int(attempt, 'attempt')}"


def preemption_credit(
    tier: Tier | str, gpus: int, price_per_gpu_hour: Decimal, billed_usd: Decimal
) -> Decimal:
    """Credit owed for a preempted attempt, from its parameters (0 unless ``tier`` is reserved).

    ``billed_usd`` (all that was billed for the attempt) plus 10 % of ``gpus`` GPU-hours at
    ``price_per_gpu_hour``, rounded to 6 decimal places.
    """
    the_tier = parse_tier(tier)
    count = require_int(gpus, "gpus", minimum=1)
    price = parse_money(price_per_gpu_hour, "price_per_gpu_hour")
    billed = parse_money(billed_usd, "billed_usd")
    if the_tier is not Tier.RESERVED:
        return ZERO
    penalty = PREEMPTION_PENALTY_RATE * PREEMPTION_PENALTY_HOURS * count * price
    return round_micro(billed + penalty)


def reserved_preemption_credit(
    attempt_records: Sequence[UsageRecord], price_book: PriceBook
) -> Decimal:
    """Credit owed for a preempted attempt, from all its usage records (every period).

    The records must belong to one attempt (same job, attempt, tenant, GPU type, tier and
    GPU count; :class:`InvalidInput` otherwise). No records, or a tier other than reserved,
    gives 0.
    """
    if not attempt_records:
        return ZERO
    first = attempt_records[0]
    identity = (first.job_id, first.attempt, first.tenant, first.gpu_type, first.tier, first.gpus)
    for record in attempt_records:
        mine = (record.job_id, record.attempt, record.tenant, record.gpu_type, record.tier)
        if (*mine, record.gpus) != identity:
            raise InvalidInput("records of more than one attempt", "attempt_records")
    billed = sum((record.amount_usd for record in attempt_records), ZERO)
    price = price_book.price(first.gpu_type, first.tier)
    return preemption_credit(first.tier, first.gpus, price, billed)
