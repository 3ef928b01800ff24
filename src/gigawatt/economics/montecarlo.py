"""Monte Carlo: draw every uncertain input from its distribution, value each draw, report the
P5/P50/P95 of revenue, operating income, EPS uplift, NPV and equity value, and how often the
run's split beats keeping everything.

Inputs are drawn independently unless the scenario gives a ``correlation`` matrix: those inputs
are then drawn through a Gaussian copula (:mod:`.correlation`), each keeping its own marginal.

Draws are valued in chunks by the vectorised model (a million draws take about a second on one
core; see docs/benchmarks.md). A ``progress(done, total)`` callback reports each chunk, so the
command line can show a progress bar without this module doing any I/O. Results depend only on
``seed`` and ``chunk_size``: each chunk has its own child of ``SeedSequence(seed)``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import numpy as np

from gigawatt.core.catalogue import Catalogue
from gigawatt.core.errors import InvalidInput
from gigawatt.economics.model import FloatArray, annual, npv_only
from gigawatt.economics.resolve import Resolved, resolve
from gigawatt.economics.scenario import Scenario
from gigawatt.economics.sensitivity import input_ranges
from gigawatt.economics.valuation import valuation
from gigawatt.economics.variables import VARIABLES, Distribution, sample_clipped

#: Outputs whose distributions are kept and summarised.
OUTPUTS: tuple[str, ...] = (
    "revenue_usd",
    "operating_income_usd",
    "eps_uplift_usd",
    "npv_usd",
    "equity_value_usd",
)
#: The objective each ``Scenario.objective`` compares per draw for ``p_sell_beats_keep``.
_OBJECTIVE_OUTPUT = {"eps": "net_income_usd", "npv": "npv_usd", "equity_value": "equity_value_usd"}
PERCENTILES: tuple[int, ...] = (5, 50, 95)
DEFAULT_CHUNK = 100_000
MAX_DRAWS = 20_000_000

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Uncertain:
    """One input drawn in the Monte Carlo: its distribution and where that comes from."""

    name: str
    base: float
    distribution: Distribution
    source: str

    def to_dict(self) -> dict[str, Any]:
        """JSON form: the distribution's parameters and source."""
        return {**self.distribution.describe(self.base), "base": self.base, "source": self.source}


@dataclass(frozen=True)
class MonteCarloResult:
    """All draws of each output, with the seed and the distributions used."""

    draws: int
    seed: int
    samples: dict[str, FloatArray]
    inputs: list[Uncertain]
    sell_beats_keep: float | None = None
    objective: str = "equity_value"
    correlated: tuple[str, ...] = ()

    def percentiles(self) -> dict[str, dict[str, float]]:
        """``{output: {p5, p50, p95, mean}}``."""
        out: dict[str, dict[str, float]] = {}
        for name, values in self.samples.items():
            if not np.all(np.isfinite(values)):
                continue  # EPS without a share count
            pct = np.percentile(values, PERCENTILES)
            row = {f"p{p}": float(v) for p, v in zip(PERCENTILES, pct, strict=True)}
            row["mean"] = float(values.mean())
            out[name] = row
        return out

    def to_dict(self) -> dict[str, Any]:
        """The ``monte_carlo`` section of the JSON output."""
        return {
            "draws": self.draws,
            "seed": self.seed,
            "percentiles": self.percentiles(),
            "probability_operating_loss": float(np.mean(self.samples["operating_income_usd"] < 0)),
            "probability_negative_npv": float(np.mean(self.samples["npv_usd"] < 0)),
            "p_sell_beats_keep": self.sell_beats_keep,
            "p_sell_beats_keep_objective": self.objective,
            "correlated_inputs": list(self.correlated),
            "inputs": {u.name: u.to_dict() for u in self.inputs},
        }


def uncertain_inputs(r: Resolved) -> list[Uncertain]:
    """The scenario's ``uncertainty`` entries, plus a triangular (low, base, high) over the
    tornado range of every other input that matters (an estimate)."""
    s = r.scenario
    out: list[Uncertain] = []
    for name, dist in s.uncertainty.items():
        source = dist.source or s.sources.get(f"uncertainty.{name}") or s.source_of("uncertainty")
        out.append(Uncertain(name, r.inputs[name], dist, source))
    for rng in input_ranges(r):
        if rng.name in s.uncertainty or rng.low == rng.high:
            continue
        dist = Distribution(dist="triangular", low=rng.low, mode=rng.base, high=rng.high)
        source = f"estimate: triangular over the tornado range ({rng.source})"
        out.append(Uncertain(rng.name, rng.base, dist, source))
    return out


def _value(x: dict[str, Any], r: Resolved) -> dict[str, FloatArray]:
    base = annual(x, r.structure)
    out = {k: base[k] for k in OUTPUTS if k in base}
    out["npv_usd"] = npv_only(x, r.structure, base)
    out["equity_value_usd"] = valuation(base, x)["equity_value_usd"]
    out["net_income_usd"] = base["net_income_usd"]
    return out


def _beats_keep(x: dict[str, Any], r: Resolved, run: dict[str, FloatArray]) -> FloatArray:
    """Per draw: does the run's split beat keeping everything, on the scenario's objective?"""
    kept = dict(x)
    kept["internal_share"] = 1.0
    key = _OBJECTIVE_OUTPUT[r.scenario.objective]
    return np.asarray(run[key] > _value(kept, r)[key], dtype=np.float64)


def _draw(
    inputs: list[Uncertain], r: Resolved, rng: np.random.Generator, n: int
) -> dict[str, FloatArray]:
    """``n`` draws of each uncertain input; the correlated ones through the Gaussian copula."""
    corr = r.scenario.correlation
    drawn: dict[str, FloatArray] = {}
    by_name = {u.name: u for u in inputs}
    if corr is not None:
        missing = [name for name in corr.inputs if name not in by_name]
        if missing:
            known = ", ".join(by_name)
            raise InvalidInput(
                f"{missing[0]!r} is not uncertain in this run; allowed: {known}", "correlation"
            )
        u = corr.uniforms(rng, n)
        for j, name in enumerate(corr.inputs):
            unc = by_name[name]
            values = unc.distribution.ppf(unc.base, u[:, j])
            drawn[name] = np.clip(values, VARIABLES[name].lower, VARIABLES[name].upper)
    for unc in inputs:
        if unc.name not in drawn:
            drawn[unc.name] = sample_clipped(
                VARIABLES[unc.name], unc.distribution, unc.base, rng, n
            )
    return drawn


def monte_carlo(
    scenario: Scenario | Resolved,
    draws: int,
    seed: int = 0,
    catalogue: Catalogue | None = None,
    progress: Progress | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    only: Collection[str] | None = None,
    sell_vs_keep: bool = True,
) -> MonteCarloResult:
    """Value ``draws`` random variants of ``scenario``; deterministic for a given ``seed``.

    ``only`` restricts the draws to the named inputs (the others stay at their base values).
    ``sell_vs_keep`` also values each draw with everything kept, for ``p_sell_beats_keep``
    (about twice the work; ``None`` in the result when off).
    """
    if not 1 <= draws <= MAX_DRAWS:
        raise InvalidInput(f"got {draws}; allowed: a whole number from 1 to {MAX_DRAWS}", "draws")
    if chunk_size < 1:
        raise InvalidInput(f"got {chunk_size}; allowed: a whole number >= 1", "chunk_size")
    r = scenario if isinstance(scenario, Resolved) else resolve(scenario, catalogue)
    inputs = uncertain_inputs(r)
    if only is not None:
        unknown = sorted(set(only) - {u.name for u in inputs})
        if unknown:
            known = ", ".join(u.name for u in inputs)
            raise InvalidInput(f"{unknown[0]!r} is not uncertain here; allowed: {known}", "only")
        inputs = [u for u in inputs if u.name in only]
    samples = {k: np.empty(draws, dtype=np.float64) for k in OUTPUTS}
    beats = 0.0
    n_chunks = -(-draws // chunk_size)
    streams = np.random.SeedSequence(seed).spawn(n_chunks)
    for i, stream in enumerate(streams):
        start = i * chunk_size
        n = min(chunk_size, draws - start)
        rng = np.random.default_rng(stream)
        x: dict[str, Any] = dict(r.inputs)
        x.update(_draw(inputs, r, rng, n))
        run = _value(x, r)
        for k in OUTPUTS:
            samples[k][start : start + n] = run[k]
        if sell_vs_keep:
            beats += float(_beats_keep(x, r, run).sum())
        if progress is not None:
            progress(start + n, draws)
    corr = r.scenario.correlation
    return MonteCarloResult(
        draws,
        seed,
        samples,
        inputs,
        sell_beats_keep=beats / draws if sell_vs_keep else None,
        objective=r.scenario.objective,
        correlated=tuple(corr.inputs) if corr is not None else (),
    )
