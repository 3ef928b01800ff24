"""The economics engine: what N megawatts of GPUs sold outside earn, cost and add to EPS.

For notebooks::

    from gigawatt.economics import Scenario, evaluate, load_preset, sensitivity, monte_carlo

    result = evaluate(load_preset("jpm-meta-2026"))
    result["revenue_usd"], result["eps_uplift_usd"]
    evaluate(Scenario(power_mw=250, power_basis="it", gpu="H100", price_per_gpu_hour=2.35))

Everything here is pure (no I/O beyond reading the packaged presets) and vectorised: the model
in :mod:`gigawatt.economics.model` values one scenario or a million Monte Carlo draws alike.
"""

from gigawatt.economics.breakeven import break_even_price, price_for_revenue
from gigawatt.economics.capacity import gpus_for_power
from gigawatt.economics.evaluate import Evaluation, evaluate
from gigawatt.economics.montecarlo import MonteCarloResult, monte_carlo
from gigawatt.economics.presets import load_preset, preset_names, scenario_from_yaml
from gigawatt.economics.resolve import Resolved, resolve
from gigawatt.economics.scenario import Scenario, build_scenario
from gigawatt.economics.sensitivity import Tornado, sensitivity
from gigawatt.economics.variables import Distribution

__all__ = [
    "Distribution",
    "Evaluation",
    "MonteCarloResult",
    "Resolved",
    "Scenario",
    "Tornado",
    "break_even_price",
    "build_scenario",
    "evaluate",
    "gpus_for_power",
    "load_preset",
    "monte_carlo",
    "preset_names",
    "price_for_revenue",
    "resolve",
    "scenario_from_yaml",
    "sensitivity",
]
