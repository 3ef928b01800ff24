"""Invoices: one per tenant per period, built from usage records, token usage and credits.

Rounding rule: amounts stay at 6 decimal places on records; each invoice line rounds the exact
sum of its records to cents once (banker's rounding, :func:`gigawatt.core.money.round_cents`),
and subtotal, credits and total are sums of rounded lines. Building the same invoice from the
same inputs — in any order — gives an identical result.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import TYPE_CHECKING, Literal, TypeVar

from gigawatt.billing.checks import exact_seconds, require_text
from gigawatt.billing.credits import Credit
from gigawatt.billing.periods import parse_period
from gigawatt.core.errors import InvalidInput
from gigawatt.core.money import ZERO, round_cents
from gigawatt.core.tiers import Tier

if TYPE_CHECKING:
    from gigawatt.metering.records import TokenUsage, UsageRecord

LineKind = Literal["gpu", "inference", "credit"]
_QUANTITY = Decimal("0.000001")
_HOUR = Decimal(3600)


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    """One line: GPU-hours of a (GPU type, tier), tokens of a model, or a credit (negative)."""

    description: str
    kind: LineKind
    gpu_type: str | None
    tier: Tier | None
    model: str | None
    quantity: Decimal
    unit: str
    amount_usd: Decimal


@dataclass(frozen=True, slots=True)
class Invoice:
    """A tenant's invoice for a period. ``total = subtotal - credits`` (negative: owed to it)."""

    tenant: str
    period: str
    lines: tuple[InvoiceLine, ...]
    subtotal: Decimal
    credits: Decimal
    total: Decimal

    @property
    def key(self) -> str:
        """Natural key ``<tenant>:<period>`` (unique per closed invoice)."""
        return f"{self.tenant}:{self.period}"


_Keyed = TypeVar("_Keyed", "UsageRecord", "TokenUsage", Credit)


def _unique(items: Iterable[_Keyed], tenant: str, period: str, what: str) -> list[_Keyed]:
    """The tenant's items of the period, one per idempotency key (a conflicting twin is refused)."""
    seen: dict[str, _Keyed] = {}
    for item in items:
        if item.tenant != tenant or item.period != period:
            continue
        other = seen.setdefault(item.idempotency_key, item)
        if other != item:
            raise InvalidInput(f"two different items share key {item.idempotency_key!r}", what)
    return [seen[key] for key in sorted(seen)]


def _gpu_lines(records: list[UsageRecord]) -> list[InvoiceLine]:
    groups: dict[tuple[str, Tier], list[UsageRecord]] = {}
    for record in records:
        groups.setdefault((record.gpu_type, record.tier), []).append(record)
    lines = []
    for gpu_type, tier in sorted(groups, key=lambda key: (key[0], key[1].rank)):
        group = groups[(gpu_type, tier)]
        seconds = sum((exact_seconds(record.gpu_seconds) for record in group), ZERO)
        hours = (seconds / _HOUR).quantize(_QUANTITY, rounding=ROUND_HALF_EVEN)
        amount = round_cents(sum((record.amount_usd for record in group), ZERO))
        lines.append(
            InvoiceLine(
                f"{gpu_type} GPU-hours, {tier.value}", "gpu", gpu_type, tier, None,
                hours, "GPU-hour", amount,
            )
        )  # fmt: skip
    return lines


def _token_lines(usages: list[TokenUsage]) -> list[InvoiceLine]:
    groups: dict[str, list[TokenUsage]] = {}
    for usage in usages:
        groups.setdefault(usage.model, []).append(usage)
    lines = []
    for model in sorted(groups):
        group = groups[model]
        prompt = sum(usage.prompt_tokens for usage in group)
        completion = sum(usage.completion_tokens for usage in group)
        amount = round_cents(sum((usage.amount_usd for usage in group), ZERO))
        description = f"{model} inference: {prompt} input + {completion} output tokens"
        lines.append(
            InvoiceLine(
                description, "inference", None, None, model,
                Decimal(prompt + completion), "token", amount,
            )
        )  # fmt: skip
    return lines


def _credit_lines(credits: list[Credit]) -> list[InvoiceLine]:
    ordered = sorted(credits, key=lambda credit: (credit.at, credit.idempotency_key))
    return [
        InvoiceLine(
            f"Credit ({credit.tier.value}): {credit.reason}", "credit", None, credit.tier, None,
            Decimal(1), "credit", -round_cents(credit.amount_usd),
        )
        for credit in ordered
    ]  # fmt: skip


def build_invoice(
    tenant: str,
    period: str,
    usage_records: Iterable[UsageRecord],
    token_usages: Iterable[TokenUsage],
    credits: Iterable[Credit],
) -> Invoice:
    """The invoice of ``tenant`` for ``period``.

    Items of other tenants or periods are ignored; items repeated under one idempotency key
    count once (differing items under one key raise :class:`InvalidInput`). Lines: GPU lines
    by (GPU type, tier rank), then inference lines by model, then credits by time.
    """
    require_text(tenant, "tenant")
    parse_period(period)
    with localcontext() as context:
        context.prec = 60  # sums of exact amounts never round, whatever their order
        return _build(tenant, period, usage_records, token_usages, credits)


def _build(
    tenant: str,
    period: str,
    usage_records: Iterable[UsageRecord],
    token_usages: Iterable[TokenUsage],
    credits: Iterable[Credit],
) -> Invoice:
    gpu = _gpu_lines(_unique(usage_records, tenant, period, "usage_records"))
    inference = _token_lines(_unique(token_usages, tenant, period, "token_usages"))
    credit = _credit_lines(_unique(credits, tenant, period, "credits"))
    subtotal = sum((line.amount_usd for line in (*gpu, *inference)), ZERO)
    credited = -sum((line.amount_usd for line in credit), ZERO)
    return Invoice(
        tenant=tenant,
        period=period,
        lines=(*gpu, *inference, *credit),
        subtotal=round_cents(subtotal),
        credits=round_cents(credited),
        total=round_cents(subtotal - credited),
    )
