"""Token metering hooks: admission against limits, and one usage record per request.

Both sides use the same rows of ``inference_counters``: :func:`admit` reads the spend of the
period and the tokens of the minute (and counts the request when a requests/min limit is set),
and :func:`record` writes the request's usage record, adds its tokens and amount to those
counters and posts it to the ledger, all in one transaction and only if the record's
idempotency key is new. A second write for the same request changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, Protocol

from gigawatt.billing.ledger import TenantKind, post_token_usage
from gigawatt.billing.prices import ModelPrice
from gigawatt.core.clock import Clock
from gigawatt.inference import repo
from gigawatt.inference.limits import (
    NO_LIMITS,
    NO_RESERVATION,
    Limits,
    Reservation,
    Subject,
    budget_short,
    check_usage,
    minute_window,
    price_text,
    too_many_requests,
)
from gigawatt.metering.records import TokenUsage
from gigawatt.metering.tokens import meter_tokens

log = logging.getLogger(__name__)
Status = Literal["completed", "client_disconnected", "upstream_error"]


class Caller(Protocol):
    """Who is calling (the control plane's ``Principal`` satisfies this)."""

    @property
    def is_admin(self) -> bool:
        """Whether the caller holds the admin key."""
        ...

    @property
    def tenant_id(self) -> str | None:
        """The caller's tenant (None for the admin)."""
        ...

    @property
    def tenant_kind(self) -> str | None:
        """``internal`` or ``external``."""
        ...

    @property
    def key_id(self) -> str | None:
        """The id of the API key used."""
        ...


@dataclass(frozen=True, slots=True)
class RequestOutcome:
    """How a request ended and the tokens to bill (zero for an upstream error)."""

    status: Status
    prompt_tokens: int
    completion_tokens: int
    reason: str = ""


def subjects_of(tenant_id: str, key_id: str | None) -> list[Subject]:
    """The tenant and (if any) the key a request counts against."""
    found = [Subject("tenant", tenant_id)]
    if key_id is not None:
        found.append(Subject("key", key_id))
    return found


class LimitCache:
    """Limits per subject, read from the database at most every ``ttl_s`` seconds.

    Changing a limit takes effect in every process within ``ttl_s``; the counters themselves
    are never cached.
    """

    def __init__(self, clock: Clock, ttl_s: float = 1.0) -> None:
        self._clock = clock
        self._ttl_s = ttl_s
        self._entries: dict[Subject, tuple[float, Limits]] = {}

    def get(
        self, subjects: list[Subject], load: Callable[[list[Subject]], dict[Subject, Limits]]
    ) -> dict[Subject, Limits]:
        """Limits of ``subjects`` (``NO_LIMITS`` where none are set)."""
        now = self._clock.now()
        stale = [
            s for s in subjects if now - self._entries.get(s, (-1e18, NO_LIMITS))[0] > self._ttl_s
        ]
        if stale:
            loaded = load(stale)
            if len(self._entries) > 100_000:
                self._entries.clear()
            for subject in stale:
                self._entries[subject] = (now, loaded.get(subject, NO_LIMITS))
        return {s: self._entries[s][1] for s in subjects}

    def peek(self, subjects: list[Subject]) -> dict[Subject, Limits] | None:
        """Limits of ``subjects`` if all are cached and fresh (never reads the database)."""
        now = self._clock.now()
        found: dict[Subject, Limits] = {}
        for subject in subjects:
            entry = self._entries.get(subject)
            if entry is None or now - entry[0] > self._ttl_s:
                return None
            found[subject] = entry[1]
        return found

    def forget(self, subject: Subject) -> None:
        """Drop a cached entry (after this process changed it)."""
        self._entries.pop(subject, None)


def admit(
    db: repo.Db, limits: dict[Subject, Limits], at: float, cost_bound: Decimal
) -> Reservation:
    """Refuse the request (402/429) if any subject is at a limit; else count it where needed
    and reserve ``cost_bound`` (the request's maximum cost) against every budget, in each
    subject's budget window.

    Run it in one transaction: a refusal raises, which rolls back what was counted or
    reserved for the other subjects.
    """
    limited = [s for s, lim in limits.items() if not lim.empty]
    if not limited:
        return NO_RESERVATION
    minute = minute_window(at)
    windows = {s: limits[s].window(at) for s in limited}
    used = repo.read_usage(db, windows, minute)
    for subject in limited:
        check_usage(subject, limits[subject], used[subject], at)
    for subject in limited:
        rpm = limits[subject].requests_per_minute
        if rpm is not None and not repo.admit_request(db, subject, minute, rpm):
            raise too_many_requests(subject, limits[subject], at)
    budgeted = [s for s in limited if limits[s].budget_usd is not None]
    for subject in budgeted:
        budget = limits[subject].budget_usd or Decimal(0)
        if not repo.reserve_spend(db, subject, windows[subject], cost_bound, budget):
            spent = repo.read_usage(db, {subject: windows[subject]}, minute)[subject].spend_usd
            raise budget_short(subject, limits[subject], spent, cost_bound, at)
    if not budgeted:
        return NO_RESERVATION
    return Reservation(cost_bound, tuple((s, windows[s]) for s in budgeted))


def counter_deltas(
    subjects: list[Subject],
    usage: TokenUsage,
    reservation: Reservation,
    own_windows: Mapping[Subject, str] | None = None,
) -> dict[repo.CounterKey, tuple[int, Decimal]]:
    """What metering adds to the counters: the usage's tokens to the minute and its amount to
    the month of every subject (and to the day or week window of those whose budgets use
    one: ``own_windows``), less the reservation admission made (settling it)."""
    minute = minute_window(usage.at)
    deltas: dict[repo.CounterKey, tuple[int, Decimal]] = {}

    def add(key: repo.CounterKey, tokens: int, spend: Decimal) -> None:
        old_tokens, old_spend = deltas.get(key, (0, Decimal(0)))
        deltas[key] = (old_tokens + tokens, old_spend + spend)

    for subject in subjects:
        add((subject, minute), usage.total_tokens, usage.amount_usd)
        add((subject, usage.period), usage.total_tokens, usage.amount_usd)
    for subject, window in (own_windows or {}).items():
        if window != usage.period:
            add((subject, window), usage.total_tokens, usage.amount_usd)
    for subject, window in reservation.windows:
        add((subject, window), 0, -reservation.amount_usd)
    return deltas


def _soft_alerts(
    db: repo.Db, limits: Mapping[Subject, Limits], windows: Mapping[Subject, str], at: float
) -> None:
    """Record a ``soft_budget`` alert event for every subject whose spend in its window has
    reached its soft budget (once per window; spend includes in-flight reservations)."""
    soft = {s: w for s, w in windows.items() if limits[s].soft_budget_usd is not None}
    if not soft:
        return
    used = repo.read_usage(db, soft, minute_window(at))
    for subject, window in soft.items():
        threshold = limits[subject].soft_budget_usd or Decimal(0)
        spent = used[subject].spend_usd
        if spent >= threshold:
            message = (
                f"{subject.describe()} has spent ${price_text(spent)} in {window}, reaching "
                f"its soft budget of ${price_text(threshold)}"
            )
            if repo.insert_alert(db, subject, "soft_budget", window, at, message):
                log.warning("inference soft budget reached: %s", message)


def record(
    db: repo.Db,
    request_id: str,
    caller: Caller,
    price: ModelPrice,
    outcome: RequestOutcome,
    at: float,
    reservation: Reservation = NO_RESERVATION,
    upstream: str | None = None,
    limits: Mapping[Subject, Limits] | None = None,
) -> TokenUsage | None:
    """Write the request's usage once, settling its reservation (and recording soft-budget
    alerts, given the subjects' ``limits``); returns it, or None if it was already written
    (then nothing changes: the reservation was settled by the first write)."""
    tenant = caller.tenant_id or ""
    usage = meter_tokens(
        request_id,
        tenant,
        caller.key_id,
        price,
        outcome.prompt_tokens,
        outcome.completion_tokens,
        at,
    )
    if not repo.insert_usage(db, usage, outcome.status, outcome.reason, upstream):
        return None
    subjects = subjects_of(tenant, caller.key_id)
    known = limits or {}
    windows = {s: known[s].window(at) for s in subjects if s in known}
    own = {s: w for s, w in windows.items() if known[s].own_window}
    repo.add_to_counters(db, counter_deltas(subjects, usage, reservation, own))
    if usage.amount_usd > 0 and known:
        _soft_alerts(db, known, windows, at)
    if usage.amount_usd > 0:
        kind: TenantKind = "internal" if caller.tenant_kind == "internal" else "external"
        repo.post_ledger(db, post_token_usage(usage, kind))
    return usage
