"""Usage records: what a job attempt used in one invoice period, and what a request's tokens cost.

Records are frozen values. They carry raw quantities (GPU-seconds, kWh, tokens) beside the
rated amount in US dollars at millionth-of-a-dollar precision; rounding to cents happens only
on invoice lines (:mod:`gigawatt.billing.invoices`).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from gigawatt.billing.checks import parse_money, parse_tier, require_text
from gigawatt.billing.periods import parse_period
from gigawatt.core.errors import InvalidInput
from gigawatt.core.tiers import Tier


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """GPU time of one job attempt within one invoice period.

    ``gpu_seconds`` is ``gpus × (end - start)``; ``amount_usd`` is that time rated at the
    price book's price for ``(gpu_type, tier)``, rounded to 6 decimal places. The
    ``idempotency_key`` is unique per metered piece (see :mod:`gigawatt.metering.keys`).
    """

    idempotency_key: str
    job_id: str
    attempt: int
    tenant: str
    gpu_type: str
    tier: Tier
    gpus: int
    start: float
    end: float
    gpu_seconds: float
    energy_kwh: float
    amount_usd: Decimal
    period: str

    def __post_init__(self) -> None:
        require_text(self.idempotency_key, "idempotency_key")
        object.__setattr__(self, "tier", parse_tier(self.tier))
        object.__setattr__(self, "amount_usd", parse_money(self.amount_usd, "amount_usd"))
        parse_period(self.period)
        if self.end < self.start:
            raise InvalidInput(f"must not be before start, got {self.end!r}", "end")
        if self.gpu_seconds < 0 or self.energy_kwh < 0:
            raise InvalidInput("gpu_seconds and energy_kwh must not be negative", "usage")

    @property
    def gpu_hours(self) -> float:
        """``gpu_seconds / 3600``."""
        return self.gpu_seconds / 3600.0


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """The tokens of one inference request and what they cost."""

    idempotency_key: str
    tenant: str
    key_id: str | None
    model: str
    prompt_tokens: int
    completion_tokens: int
    amount_usd: Decimal
    at: float
    period: str

    def __post_init__(self) -> None:
        require_text(self.idempotency_key, "idempotency_key")
        object.__setattr__(self, "amount_usd", parse_money(self.amount_usd, "amount_usd"))
        parse_period(self.period)
        if self.prompt_tokens < 0 or self.completion_tokens < 0:
            raise InvalidInput("token counts must not be negative", "tokens")

    @property
    def total_tokens(self) -> int:
        """``prompt_tokens + completion_tokens``."""
        return self.prompt_tokens + self.completion_tokens
