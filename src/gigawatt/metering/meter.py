"""Meter GPU time: turn an allocated interval of a job attempt into usage records.

An interval is cut at invoice-period (calendar month, UTC) boundaries and each piece becomes
one :class:`UsageRecord`, keyed by its start (:func:`gigawatt.metering.keys.usage_key`). A
running attempt may be metered in pieces with :func:`meter_segment` — up to a heartbeat, or up
to a period boundary when a period closes — and then to its end with :func:`meter_interval`
from the last checkpoint: pieces never overlap, so nothing is counted twice (docs/billing.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, localcontext

from gigawatt.billing.checks import (
    parse_tier,
    require_int,
    require_non_negative_float,
    require_text,
    require_time,
)
from gigawatt.billing.periods import period_of, split_at_period_boundaries
from gigawatt.billing.prices import PriceBook
from gigawatt.core.errors import InvalidInput
from gigawatt.core.money import round_micro
from gigawatt.core.tiers import Tier
from gigawatt.metering.keys import usage_key
from gigawatt.metering.records import UsageRecord

_HOUR = Decimal(3600)
#: Enough digits that time and amount arithmetic on epoch seconds never rounds.
_PRECISION = 60


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Result of :func:`meter_segment`: the new records and how far the attempt is now metered."""

    records: tuple[UsageRecord, ...]
    metered_until: float


def meter_interval(
    job_id: str,
    attempt: int,
    tenant: str,
    gpu_type: str,
    tier: Tier | str,
    gpus: int,
    start: float,
    end: float,
    price_book: PriceBook,
    kw_per_gpu: float,
    *,
    energy_kwh: float | None = None,
) -> list[UsageRecord]:
    """Usage records for ``gpus`` GPUs of ``job_id``'s ``attempt`` allocated over [start, end).

    One record per invoice period the interval touches, in time order. Each record has
    ``gpu_seconds = gpus × (its end - its start)``, energy ``kw_per_gpu × gpus × hours`` (or
    the measured ``energy_kwh`` of the whole interval apportioned by time) and an amount rated
    exactly in ``Decimal`` at the price book's price, rounded to 6 decimal places. An empty
    interval gives no records. :class:`InvalidInput` for bad values (``gpus`` < 1,
    ``end`` < ``start``, …), :class:`NotFound` for a GPU type without prices.
    """
    require_text(job_id, "job_id")
    require_int(attempt, "attempt")
    require_text(tenant, "tenant")
    the_tier = parse_tier(tier)
    require_int(gpus, "gpus", minimum=1)
    first = require_time(start, "start")
    last = require_time(end, "end")
    if last < first:
        raise InvalidInput(f"must not be before start ({first!r}), got {last!r}", "end")
    kw = require_non_negative_float(kw_per_gpu, "kw_per_gpu")
    measured = None if energy_kwh is None else require_non_negative_float(energy_kwh, "energy_kwh")
    name = price_book.canonical_gpu_type(gpu_type)
    price = price_book.price(name, the_tier)

    pieces = split_at_period_boundaries(first, last)
    with localcontext() as context:
        context.prec = _PRECISION
        return _records(job_id, attempt, tenant, name, the_tier, gpus, pieces, price, kw, measured)


def _records(
    job_id: str,
    attempt: int,
    tenant: str,
    name: str,
    the_tier: Tier,
    gpus: int,
    pieces: list[tuple[float, float]],
    price: Decimal,
    kw: float,
    measured: float | None,
) -> list[UsageRecord]:
    """One record per piece (arguments already checked); measured energy is apportioned by time."""
    if not pieces:
        return []
    # Times enter as their exact binary values: durations telescope exactly across pieces.
    total = Decimal(pieces[-1][1]) - Decimal(pieces[0][0])
    energy_left = measured or 0.0
    records: list[UsageRecord] = []
    for index, (piece_start, piece_end) in enumerate(pieces):
        duration = Decimal(piece_end) - Decimal(piece_start)
        gpu_seconds = gpus * duration
        if measured is None:
            energy = kw * float(gpu_seconds) / 3600.0
        elif index == len(pieces) - 1:
            energy = max(0.0, energy_left)  # the remainder: pieces sum to the measurement
        else:
            energy = measured * float(duration / total)
            energy_left -= energy
        records.append(
            UsageRecord(
                idempotency_key=usage_key(job_id, attempt, piece_start),
                job_id=job_id,
                attempt=attempt,
                tenant=tenant,
                gpu_type=name,
                tier=the_tier,
                gpus=gpus,
                start=piece_start,
                end=piece_end,
                gpu_seconds=float(gpu_seconds),
                energy_kwh=energy,
                amount_usd=round_micro(gpu_seconds * price / _HOUR),
                period=period_of(piece_start),
            )
        )
    return records


def meter_segment(
    job_id: str,
    attempt: int,
    tenant: str,
    gpu_type: str,
    tier: Tier | str,
    gpus: int,
    metered_until: float,
    until: float,
    price_book: PriceBook,
    kw_per_gpu: float,
    *,
    energy_kwh: float | None = None,
) -> Checkpoint:
    """Meter a still-running attempt from its watermark ``metered_until`` up to ``until``.

    ``metered_until`` is the attempt's start before its first checkpoint, then the
    ``metered_until`` of the previous :class:`Checkpoint`; the caller stores the new records
    and the new watermark in one transaction. ``until`` is a heartbeat time, or a period's end
    when the period closes while the job still runs. A stale ``until`` (not after the
    watermark) meters nothing and keeps the watermark. ``energy_kwh`` is the measured energy
    of this piece only. The attempt's last piece is metered by :func:`meter_interval` from the
    last watermark to the attempt's end; its key cannot collide with a checkpoint's because
    pieces never share a start.
    """
    since = require_time(metered_until, "metered_until")
    upto = require_time(until, "until")
    if upto <= since:
        return Checkpoint(records=(), metered_until=since)
    records = meter_interval(
        job_id,
        attempt,
        tenant,
        gpu_type,
        tier,
        gpus,
        since,
        upto,
        price_book,
        kw_per_gpu,
        energy_kwh=energy_kwh,
    )
    return Checkpoint(records=tuple(records), metered_until=upto)
