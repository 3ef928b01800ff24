"""What the market pays for each wheel: earnings times a multiple, and the platform re-rating.

The stock market values the two wheels differently: the internal wheel's earnings (products
that use the compute) at ``platform_pe``, the external wheel's (compute sold) at ``cloud_pe``.
Selling capacity may also change how the market values the whole platform: ``rerating_at_full_
sale`` is the change in the platform's P/E, applied to the company's base earnings, when all of
the capacity is sold, scaled linearly by the share sold (negative: "defensive monetisation";
positive: a "dual wheel" the market rewards). Vectorised like :mod:`.model`.

All run-rate figures (a year of earnings at target utilisation); see docs/economics.md.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from gigawatt.economics.model import FloatArray, Inputs


def _a(x: Inputs, name: str) -> FloatArray:
    return np.asarray(x[name], dtype=np.float64)


def share_sold(a: Mapping[str, FloatArray]) -> FloatArray:
    """The fraction of the GPUs in the external wheel."""
    gpus = np.where(a["gpus"] > 0, a["gpus"], 1.0)
    return np.asarray(a["external_gpus"] / gpus, dtype=np.float64)


def valuation(a: Mapping[str, FloatArray], x: Inputs) -> dict[str, FloatArray]:
    """Equity value of the split in ``a`` (the output of :func:`.model.annual`).

    - ``internal_value_usd`` = internal net income x ``platform_pe``;
      ``external_value_usd`` = external net income x ``cloud_pe``;
    - ``rerating_usd`` = ``rerating_at_full_sale`` x share sold x ``base_net_income``;
    - ``equity_value_change_usd`` = the three added (what the capacity, so split, adds to the
      company without this decision); ``equity_value_usd`` = ``base_net_income`` x ``base_pe``
      + the change; ``price_per_share_change_usd`` = the change / diluted shares (NaN without
      a share count).
    """
    internal = a["int_net_income_usd"] * _a(x, "platform_pe")
    external = a["ext_net_income_usd"] * _a(x, "cloud_pe")
    rerating = _a(x, "rerating_at_full_sale") * share_sold(a) * _a(x, "base_net_income")
    change = internal + external + rerating
    base = _a(x, "base_net_income") * _a(x, "base_pe")
    return {
        "internal_value_usd": internal,
        "external_value_usd": external,
        "rerating_usd": rerating,
        "equity_value_change_usd": change,
        "base_equity_value_usd": base + np.zeros_like(change),
        "equity_value_usd": base + change,
        "price_per_share_change_usd": change / _a(x, "diluted_shares"),
    }


def implied_rerating(
    observed_change_usd: float,
    segments_change_usd: float,
    sold: float,
    base_net_income: float,
) -> float | None:
    """The ``rerating_at_full_sale`` the market priced in, from an observed equity change.

    The market had priced the capacity as kept (the status quo), so its move on the news is
    read against keeping everything: ``observed = segments_change + r x sold x base_net_income``,
    where ``segments_change`` is the wheels' value at the run's split less their value kept
    whole. ``None`` when nothing is sold or there are no base earnings to re-rate.
    """
    scale = sold * base_net_income
    if abs(scale) < 1e-9:
        return None
    return (observed_change_usd - segments_change_usd) / scale
