"""Budgets and rate limits: the pure rules (windows, decisions); the counters live in the store.

- A **budget** caps what a tenant or a key spends on inference in an invoice period (a
  calendar month, UTC). It is hard and never overshoots: admission *reserves* the request's
  maximum cost (:func:`max_cost`) in the same spend counter metering writes, refusing with
  HTTP 402 when the reservation would pass the budget; metering then *settles* the
  reservation to the real cost. In-flight requests therefore count at their maximum, and the
  counter (``spent_this_period_usd``) includes them until they end.
- **Rate limits** count requests and tokens in fixed one-minute windows (UTC minutes). A
  request over ``requests_per_minute`` is refused; once the minute's metered tokens reach
  ``tokens_per_minute``, further requests are refused. Both answer HTTP 429 with
  ``Retry-After`` set to the seconds left in the window.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from gigawatt.billing.periods import period_of
from gigawatt.billing.prices import ModelPrice, rate_tokens
from gigawatt.inference.errors import BudgetExceeded, RateLimited

Scope = Literal["tenant", "key"]
BudgetPeriod = Literal["day", "week", "month"]
SCOPES: tuple[Scope, ...] = ("tenant", "key")
WINDOW_S = 60


@dataclass(frozen=True, slots=True)
class Limits:
    """Limits of one tenant or key; ``None`` means unlimited."""

    budget_usd: Decimal | None = None
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    #: The window of ``budget_usd`` and ``soft_budget_usd`` (UTC day, ISO week or month).
    budget_period: BudgetPeriod = "month"
    #: Spend at which an alert event is recorded (once per window); nothing is refused.
    soft_budget_usd: Decimal | None = None
    #: Requests in flight at once, per gateway process (429 above).
    max_concurrent: int | None = None

    @property
    def empty(self) -> bool:
        """Whether admission has nothing to check in the database (no budget, no rate)."""
        return (
            self.budget_usd is None
            and self.requests_per_minute is None
            and self.tokens_per_minute is None
        )

    @property
    def own_window(self) -> bool:
        """Whether metering must also count spend in this subject's budget window (a day or
        week budget or soft budget; month windows are always counted)."""
        return self.budget_period != "month" and (
            self.budget_usd is not None or self.soft_budget_usd is not None
        )

    def window(self, at: float) -> str:
        """The budget window containing ``at``."""
        return budget_window(at, self.budget_period)


NO_LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class Subject:
    """Who a counter or a limit belongs to: a tenant or an API key."""

    scope: Scope
    id: str

    def describe(self) -> str:
        """``tenant ten_…`` or ``API key …``."""
        return f"tenant {self.id}" if self.scope == "tenant" else f"API key {self.id}"


@dataclass(frozen=True, slots=True)
class Usage:
    """What a subject used: spend in the period, tokens in the current minute."""

    spend_usd: Decimal = Decimal(0)
    minute_tokens: int = 0


def price_text(value: Decimal) -> str:
    """A price without trailing zeros beyond the cents (``4.00``, ``0.150``→``0.15``)."""
    text = format(value.normalize(), "f")
    return text if "." in text and len(text.split(".")[1]) >= 2 else f"{value:.2f}"


def minute_window(at: float) -> str:
    """The rate-limit window containing ``at``: ``m<minutes since the epoch>``."""
    return f"m{math.floor(at / WINDOW_S)}"


def seconds_left_in_minute(at: float) -> float:
    """Seconds until the current window ends (what ``Retry-After`` says)."""
    return WINDOW_S - (at % WINDOW_S)


def period_window(at: float) -> str:
    """The monthly budget window containing ``at``: its invoice period ``YYYY-MM``."""
    return period_of(at)


def budget_window(at: float, period: BudgetPeriod) -> str:
    """The budget window containing ``at``: ``YYYY-MM`` (month), ``wYYYY-WW`` (ISO week,
    UTC) or ``dYYYY-MM-DD`` (UTC day)."""
    if period == "month":
        return period_of(at)
    day = dt.datetime.fromtimestamp(at, dt.UTC).date()
    if period == "day":
        return f"d{day.isoformat()}"
    year, week, _ = day.isocalendar()
    return f"w{year}-{week:02d}"


def check_usage(subject: Subject, limits: Limits, used: Usage, at: float) -> None:
    """Raise :class:`BudgetExceeded` or :class:`RateLimited` if ``used`` is at a limit."""
    if limits.budget_usd is not None and used.spend_usd >= limits.budget_usd:
        raise BudgetExceeded(
            f"inference budget exhausted: {subject.describe()} has spent "
            f"${price_text(used.spend_usd)} of its ${price_text(limits.budget_usd)} budget "
            f"for {limits.window(at)}; "
            "raise the budget or wait for the next period"
        )
    if limits.tokens_per_minute is not None and used.minute_tokens >= limits.tokens_per_minute:
        raise RateLimited(
            f"rate limit reached: {subject.describe()} used {used.minute_tokens} tokens this "
            f"minute (limit {limits.tokens_per_minute} tokens/min)",
            seconds_left_in_minute(at),
        )


@dataclass(frozen=True, slots=True)
class Reservation:
    """What admission set aside against budgets: ``amount_usd`` in the spend counter of each
    budgeted subject's window (``windows``: ``(subject, window)``). Metering settles it."""

    amount_usd: Decimal = Decimal(0)
    windows: tuple[tuple[Subject, str], ...] = ()


NO_RESERVATION = Reservation()


def max_cost(prompt_tokens_bound: int, output_tokens_bound: int, price: ModelPrice) -> Decimal:
    """The most a request can cost: its prompt bound at the input price plus its output bound
    at the output price (rounded like a usage record, so never below the real amount)."""
    return rate_tokens(prompt_tokens_bound, output_tokens_bound, price)


def budget_short(
    subject: Subject, limits: Limits, spent: Decimal, reserve: Decimal, at: float
) -> BudgetExceeded:
    """The error for a request whose maximum cost does not fit in what is left of a budget."""
    budget = limits.budget_usd or Decimal(0)
    left = max(Decimal(0), budget - spent)
    return BudgetExceeded(
        f"inference budget too low for this request: {subject.describe()} has "
        f"${price_text(left)} left of its ${price_text(budget)} budget for "
        f"{limits.window(at)} (in-flight requests count at their maximum), and this request "
        f"may cost up to ${price_text(reserve)}; lower max_tokens, raise the budget or wait"
    )


def too_many_concurrent(subject: Subject, limits: Limits) -> RateLimited:
    """The error for a request over ``max_concurrent``."""
    return RateLimited(
        f"too many concurrent requests: {subject.describe()} is limited to "
        f"{limits.max_concurrent} requests in flight at once",
        1.0,
    )


def too_many_requests(subject: Subject, limits: Limits, at: float) -> RateLimited:
    """The error for a request over ``requests_per_minute``."""
    return RateLimited(
        f"rate limit reached: {subject.describe()} is limited to "
        f"{limits.requests_per_minute} requests/min",
        seconds_left_in_minute(at),
    )
