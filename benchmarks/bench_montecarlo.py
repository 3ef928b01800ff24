"""Monte Carlo throughput of the economics engine (issue 2: 1,000,000 draws in a few seconds;
issue 9: 1,000,000 draws of the sell-or-keep model, correlated inputs and ``p_sell_beats_keep``
included, under a second on one core).

``python -m benchmarks.run montecarlo`` (or ``make bench``). Values the ``jpm-meta-2026`` preset
with every uncertain input drawn (NPV over 6 years included), then ``meta-dual-wheel`` at its
optimal split with the new inputs (internal value, elasticity, price premium, multiples,
re-rating) drawn, two pairs correlated through the Gaussian copula, and each draw also valued
with everything kept. One core: NumPy's element-wise kernels are single-threaded. Prints the
best and median of several runs.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from gigawatt.economics import evaluate, load_preset, monte_carlo, sensitivity
from gigawatt.economics.allocation import allocate

DRAWS = 1_000_000
REPEATS = 5


def _timed(
    fn: Callable[[], object], repeats: int, clock: Callable[[], float] = time.perf_counter
) -> list[float]:
    times = []
    for _ in range(repeats):
        start = clock()
        fn()
        times.append(clock() - start)
    return times


def main() -> None:
    """Print the figures recorded in docs/benchmarks.md."""
    scenario = load_preset("jpm-meta-2026")
    resolved = evaluate(scenario).resolved
    monte_carlo(resolved, 10_000, seed=0)  # warm up imports and caches
    mc = _timed(lambda: monte_carlo(resolved, DRAWS, seed=1), REPEATS)
    best, median = min(mc), statistics.median(mc)
    result = monte_carlo(resolved, DRAWS, seed=1)
    n_inputs = len(result.inputs)
    print(
        f"monte_carlo {DRAWS:,} draws ({n_inputs} inputs drawn, NPV included), "
        f"best of {REPEATS}: {best:.3f} s  median: {median:.3f} s  "
        f"({DRAWS / best / 1e6:.2f} M draws/s)"
    )
    pct = _timed(lambda: result.percentiles(), 3)
    print(f"percentiles of 4 outputs over {DRAWS:,} draws: {min(pct) * 1e3:.1f} ms")
    one = _timed(lambda: evaluate(scenario), 20)
    print(f"evaluate (one scenario, P&L + cash flows + IRR + break-even): {min(one) * 1e3:.2f} ms")
    tornado = _timed(lambda: sensitivity(resolved), 20)
    print(
        f"sensitivity (tornado, {len(sensitivity(resolved).rows)} inputs): "
        f"{min(tornado) * 1e3:.2f} ms"
    )
    _sell_or_keep()


def _sell_or_keep() -> None:
    """Issue 9's figure: the dual-wheel model, correlated draws, p_sell_beats_keep."""
    correlation = {
        "inputs": [
            "internal_value_per_gpu_hour",
            "platform_pe",
            "price_per_gpu_hour",
            "price_premium_when_scarce",
        ],
        "matrix": [[1, 0.5, 0, 0], [0.5, 1, 0, 0], [0, 0, 1, 0.4], [0, 0, 0.4, 1]],
    }
    base = load_preset("meta-dual-wheel")
    dual = evaluate(base.with_values({"correlation": correlation}, "benchmark"))
    resolved = dual.resolved
    run = lambda: monte_carlo(resolved, DRAWS, seed=1)  # noqa: E731
    run()
    times = _timed(run, REPEATS)
    cpu = _timed(run, REPEATS, time.process_time)  # compute on one core, whatever the load
    result = run()
    print(
        f"meta-dual-wheel monte_carlo {DRAWS:,} draws ({len(result.inputs)} inputs, "
        f"{len(result.correlated)} correlated, p_sell_beats_keep={result.sell_beats_keep:.3f}), "
        f"best of {REPEATS}: {min(times):.3f} s wall, {min(cpu):.3f} s CPU; "
        f"median {statistics.median(times):.3f} s wall, {statistics.median(cpu):.3f} s CPU"
    )
    alloc = _timed(lambda: allocate(resolved, "equity_value"), 10)
    print(f"allocate (optimum + 1% frontier + break-even): {min(alloc) * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
