"""Monte Carlo throughput of the economics engine (issue 2: 1,000,000 draws in a few seconds).

``python -m benchmarks.run montecarlo`` (or ``make bench``). Values the ``jpm-meta-2026`` preset
with every uncertain input drawn (14 inputs, NPV over 6 years included), on one core: NumPy's
element-wise kernels are single-threaded. Prints the best and median of several runs.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from gigawatt.economics import evaluate, load_preset, monte_carlo, sensitivity

DRAWS = 1_000_000
REPEATS = 5


def _timed(fn: Callable[[], object], repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
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


if __name__ == "__main__":
    main()
