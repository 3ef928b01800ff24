"""Distributions the workload generator draws from, calibrated from the public traces.

The calibrated values ship in ``data/calibration.yaml`` (so the generator works without the
traces); :func:`calibrate` recomputes them from the trace files and a test checks that the
shipped file matches. Regenerate it with ``python -m gigawatt.sim.calibration TRACES_DIR``.

- job sizes: the empirical distribution of GPUs per job;
- durations: quantiles of the run time (finer in the tail), sampled by interpolating
  ``log(1 + seconds)`` between quantiles;
- arrivals: mean jobs per hour and 24 hourly weights (mean 1) of the hour of day of submission
  (UTC as recorded in the trace);
- inference: requests per second and mean context/generated tokens per request (Azure).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from gigawatt.core.errors import InvalidInput
from gigawatt.sim.traces import load_alibaba_pods, load_azure_requests, load_philly
from gigawatt.sim.traces.azure import Requests
from gigawatt.sim.workload import FloatArray, IntArray, Workload

#: Percentiles kept for durations: every 1% then finer in the heavy tail.
PERCENTILES: tuple[float, ...] = (*map(float, range(100)), 99.5, 99.9, 99.99, 100.0)
#: Trace file names in the traces directory.
FILES = {
    "philly": "philly_pollux.csv",
    "alibaba": "alibaba_v2023_openb_pod_list_default.csv",
    "azure_code": "azure_llm_2023_code.csv",
    "azure_conv": "azure_llm_2023_conv.csv",
}


@dataclass(frozen=True, slots=True)
class JobCalibration:
    """Training/batch job distributions from one trace."""

    sizes: Mapping[int, float]
    duration_quantiles_s: tuple[float, ...]
    arrivals_per_hour: float
    hourly_weights: tuple[float, ...]

    def sample_sizes(self, rng: np.random.Generator, n: int) -> IntArray:
        """``n`` job sizes (GPUs)."""
        values = np.array(list(self.sizes), dtype=np.int64)
        p = np.array(list(self.sizes.values()), dtype=np.float64)
        return rng.choice(values, size=n, p=p / p.sum())

    def sample_durations(self, rng: np.random.Generator, n: int) -> FloatArray:
        """``n`` run times in seconds (at least 1 s)."""
        u = rng.random(n) * 100.0
        logq = np.log1p(np.array(self.duration_quantiles_s))
        out: FloatArray = np.maximum(np.expm1(np.interp(u, PERCENTILES, logq)), 1.0)
        return out


@dataclass(frozen=True, slots=True)
class RequestCalibration:
    """Inference request rate and token sizes from one Azure trace."""

    requests_per_s: float
    mean_context_tokens: float
    mean_generated_tokens: float
    median_context_tokens: float
    median_generated_tokens: float
    hourly_weights: tuple[float, ...] = (1.0,) * 24


def _hourly(submit_epoch_s: FloatArray) -> tuple[float, ...]:
    hours = ((submit_epoch_s // 3600) % 24).astype(np.int64)
    counts = np.bincount(hours, minlength=24).astype(np.float64)
    return tuple(round(float(x), 4) for x in counts / counts.mean())


def job_calibration(w: Workload, epoch_offset_s: float = 0.0) -> JobCalibration:
    """Calibrate from a loaded trace (``epoch_offset_s`` restores absolute submit times)."""
    sizes, counts = np.unique(w.gpus, return_counts=True)
    quantiles = np.percentile(w.duration_s, PERCENTILES)
    return JobCalibration(
        sizes={int(s): round(float(c) / len(w), 6) for s, c in zip(sizes, counts, strict=True)},
        duration_quantiles_s=tuple(round(float(q), 3) for q in quantiles),
        arrivals_per_hour=round(len(w) / (w.span_s / 3600.0), 4),
        hourly_weights=_hourly(w.submit_s + epoch_offset_s),
    )


def request_calibration(r: Requests) -> RequestCalibration:
    """Calibrate from an Azure request trace."""
    return RequestCalibration(
        requests_per_s=round(r.requests_per_s, 4),
        mean_context_tokens=round(float(r.context_tokens.mean()), 3),
        mean_generated_tokens=round(float(r.generated_tokens.mean()), 3),
        median_context_tokens=float(np.median(r.context_tokens)),
        median_generated_tokens=float(np.median(r.generated_tokens)),
    )


def calibrate(traces_dir: Path | str) -> dict[str, Any]:
    """All calibrations as the YAML structure of ``data/calibration.yaml``."""
    d = Path(traces_dir)
    philly = load_philly(d / FILES["philly"])
    # Philly submit times are relative to the first job: 2017-09-04 10:30:41 UTC.
    first = 1504521041.0
    out: dict[str, Any] = {
        "philly": _as_dict(job_calibration(philly, first)),
        "alibaba": _as_dict(job_calibration(load_alibaba_pods(d / FILES["alibaba"]))),
    }
    for key in ("azure_code", "azure_conv"):
        out[key] = _as_dict(request_calibration(load_azure_requests(d / FILES[key])))
    return out


def _as_dict(value: JobCalibration | RequestCalibration) -> dict[str, Any]:
    data = {name: getattr(value, name) for name in value.__slots__}
    return {
        k: (list(v) if isinstance(v, tuple) else dict(v) if isinstance(v, Mapping) else v)
        for k, v in data.items()
    }


@cache
def shipped() -> Mapping[str, Any]:
    """The packaged calibration file."""
    text = resources.files("gigawatt.sim").joinpath("data/calibration.yaml").read_text("utf-8")
    data: Mapping[str, Any] = yaml.safe_load(text)
    return data


def jobs(name: str) -> JobCalibration:
    """A shipped job calibration: ``philly`` or ``alibaba``."""
    data = shipped().get(name)
    if name not in ("philly", "alibaba") or not isinstance(data, Mapping):
        raise InvalidInput(f"unknown calibration {name!r}; known: philly, alibaba", "calibration")
    return JobCalibration(
        sizes={int(k): float(v) for k, v in data["sizes"].items()},
        duration_quantiles_s=tuple(float(x) for x in data["duration_quantiles_s"]),
        arrivals_per_hour=float(data["arrivals_per_hour"]),
        hourly_weights=tuple(float(x) for x in data["hourly_weights"]),
    )


def requests(name: str) -> RequestCalibration:
    """A shipped request calibration: ``azure_code`` or ``azure_conv``."""
    data = shipped().get(name)
    if name not in ("azure_code", "azure_conv") or not isinstance(data, Mapping):
        known = "azure_code, azure_conv"
        raise InvalidInput(f"unknown request calibration {name!r}; known: {known}", "requests")
    return RequestCalibration(
        requests_per_s=float(data["requests_per_s"]),
        mean_context_tokens=float(data["mean_context_tokens"]),
        mean_generated_tokens=float(data["mean_generated_tokens"]),
        median_context_tokens=float(data["median_context_tokens"]),
        median_generated_tokens=float(data["median_generated_tokens"]),
        hourly_weights=tuple(float(x) for x in data.get("hourly_weights", [1.0] * 24)),
    )


def main(argv: list[str]) -> int:
    """Print the calibration YAML computed from the traces directory ``argv[0]``."""
    data = calibrate(argv[0] if argv else "../shared/traces")
    header = "# Generated by `python -m gigawatt.sim.calibration TRACES_DIR`; do not edit.\n"
    sys.stdout.write(header + yaml.safe_dump(data, sort_keys=False, width=100))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
