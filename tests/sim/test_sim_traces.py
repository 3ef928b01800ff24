"""Trace loaders reproduce the published figures of each trace; bad files fail clearly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gigawatt.core.catalogue import Catalogue
from gigawatt.core.errors import InvalidInput
from gigawatt.core.tiers import Tier
from gigawatt.sim.traces import (
    InferenceModel,
    TraceError,
    TraceFormat,
    alibaba_fleet,
    detect_format,
    inference_workload,
    load_alibaba_pods,
    load_azure_requests,
    load_philly,
)
from gigawatt.sim.traces.azure import replica_counts
from gigawatt.sim.workload import TIER_CODE


def test_philly_published_figures(traces: Path) -> None:
    w = load_philly(traces / "philly_pollux.csv")
    assert len(w) == 82_247
    assert round(float((w.gpus == 1).mean()) * 100, 1) == 93.2
    assert float(np.median(w.duration_s)) == 1144.0
    assert round(float(w.gpus.mean()), 2) == 1.30
    assert int(w.gpus.max()) == 128
    assert w.submit_s[0] == 0.0 and np.all(np.diff(w.submit_s) >= 0)
    assert len(w.tenants) == 15  # virtual clusters


def test_philly_tiers_follow_seed(traces: Path) -> None:
    a = load_philly(traces / "philly_pollux.csv", seed=1)
    b = load_philly(traces / "philly_pollux.csv", seed=1)
    c = load_philly(traces / "philly_pollux.csv", seed=2)
    assert np.array_equal(a.tier, b.tier)
    assert not np.array_equal(a.tier, c.tier)
    spot = float((a.tier == TIER_CODE[Tier.SPOT]).mean())
    assert 0.19 < spot < 0.21  # default mix: 20% spot


def test_alibaba_published_figures(traces: Path, catalogue: Catalogue) -> None:
    w = load_alibaba_pods(traces / "alibaba_v2023_openb_pod_list_default.csv")
    assert w.meta["rows"] == 8_152
    assert len(w) == w.meta["gpu_pods"] == 7_064
    fleet = alibaba_fleet(traces / "alibaba_v2023_openb_node_list_gpu_node.csv", "H100", catalogue)
    assert fleet.total_gpus() == 6_212
    assert len(fleet.nodes()) == 1_213
    # quality of service carries the tier: best-effort pods are spot
    assert set(w.tenants) == {"LS", "BE", "Burstable", "Guaranteed"}
    assert (w.tier == TIER_CODE[Tier.SPOT]).sum() > 0


@pytest.mark.parametrize(
    ("name", "rate", "context", "output"),
    [("code", 2.6, 1469, 13), ("conv", 5.5, 1020, 129)],
)
def test_azure_published_figures(
    traces: Path, name: str, rate: float, context: int, output: int
) -> None:
    r = load_azure_requests(traces / f"azure_llm_2023_{name}.csv")
    assert r.requests_per_s == pytest.approx(rate, abs=0.05)
    assert float(np.median(r.context_tokens)) == context
    assert float(np.median(r.generated_tokens)) == output


def test_azure_inference_occupancy_model(traces: Path) -> None:
    r = load_azure_requests(traces / "azure_llm_2023_conv.csv")
    model = InferenceModel(tokens_per_gpu_s=2500, demand_scale=100, window_s=60)
    counts = replica_counts(r, model)
    w = inference_workload(r, model)
    # replica-seconds of the jobs equal the replica counts integrated over the windows
    assert float(w.duration_s.sum()) == pytest.approx(float(counts.sum()) * 60)
    assert np.all(w.gpus == 8)
    assert w.meta["peak_replicas"] == int(counts.max())
    # demand: every window's replicas carry its token work at the target utilisation
    work = r.generated_tokens + 0.1 * r.context_tokens
    assert counts.sum() * model.replica_tokens_s * 60 >= work.sum() * 100


@pytest.mark.parametrize(
    ("file", "fmt"),
    [
        ("philly_pollux.csv", TraceFormat.PHILLY),
        ("alibaba_v2023_openb_pod_list_default.csv", TraceFormat.ALIBABA_PODS),
        ("alibaba_v2023_openb_node_list_gpu_node.csv", TraceFormat.ALIBABA_NODES),
        ("azure_llm_2023_code.csv", TraceFormat.AZURE_LLM),
    ],
)
def test_format_detected_from_header(traces: Path, file: str, fmt: TraceFormat) -> None:
    assert detect_format(traces / file) is fmt


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "trace.csv"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("timestamp,duration,num_gpus,gpu_time\n0,1,1,1\n", "missing column(s) cluster"),
        (
            "timestamp,duration,num_gpus,gpu_time,cluster\n0,10,1,10,a\n5,-3,1,3,a\n",
            "line 3: negative duration",
        ),
        (
            "timestamp,duration,num_gpus,gpu_time,cluster\n0,10,-2,10,a\n",
            "line 2: negative num_gpus",
        ),
        (
            "timestamp,duration,num_gpus,gpu_time,cluster\n0,ten,1,10,a\n",
            "line 2: duration is not a number",
        ),
        (
            "timestamp,duration,num_gpus,gpu_time,cluster\n0,10,0,10,a\n",
            "line 2: num_gpus must be at least 1",
        ),
        ("timestamp,duration,num_gpus,gpu_time,cluster\n", "no jobs"),
        ("", "empty file"),
    ],
)
def test_bad_philly_rows_name_the_line(tmp_path: Path, text: str, needle: str) -> None:
    with pytest.raises(TraceError) as info:
        load_philly(_write(tmp_path, text))
    assert needle in str(info.value)
    assert isinstance(info.value, InvalidInput)


def test_unknown_header_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match="unrecognised trace header"):
        detect_format(_write(tmp_path, "a,b,c\n1,2,3\n"))


def test_alibaba_bad_qos_and_times(tmp_path: Path) -> None:
    head = (
        "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,"
        "creation_time,deletion_time,scheduled_time\n"
    )
    with pytest.raises(TraceError, match="line 2: unknown qos"):
        load_alibaba_pods(_write(tmp_path, head + "p,1,1,1,1000,,Gold,Running,0,10,0\n"))
    with pytest.raises(TraceError, match="line 2: deletion_time 5 is before start 8"):
        load_alibaba_pods(_write(tmp_path, head + "p,1,1,1,1000,,LS,Running,0,5,8\n"))


def test_azure_bad_timestamp(tmp_path: Path) -> None:
    text = "TIMESTAMP,ContextTokens,GeneratedTokens\nyesterday,1,1\n"
    with pytest.raises(TraceError, match="line 2: TIMESTAMP is not a date-time"):
        load_azure_requests(_write(tmp_path, text))
