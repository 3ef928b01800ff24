"""``gigawatt simulate``: stable JSON keys, tables, reports, fleets from every source, bad input."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from gigawatt.cli.main import app
from gigawatt.cli.simulate import progress_bar
from gigawatt.core.catalogue import default_catalogue
from gigawatt.economics.capacity import gpus_for_power
from gigawatt.sim.metrics import STABLE_KEYS

TRACES = Path(
    os.environ.get("GIGAWATT_TRACES_DIR")
    or Path(__file__).resolve().parents[2].parent / "shared" / "traces"
)
needs_traces = pytest.mark.skipif(
    not (TRACES / "philly_pollux.csv").is_file(),
    reason=f"public traces not found in {TRACES} (set GIGAWATT_TRACES_DIR)",
)
WORKLOAD = """
name: small
days: 1
load: 1.1
restart: checkpoint
failures: {mtbf_gpu_hours: 20000}
classes:
  - {name: research, tier: internal, share: 0.5, sizes: {1: 0.5, 8: 0.5},
     durations: {lognormal: {median_s: 1800, sigma: 1.0}}, diurnal: philly}
  - {name: spot, tier: spot, share: 0.3, sizes: philly, durations: philly, diurnal: flat}
  - {name: api, tier: on_demand, share: 0.2, sizes: {2: 1.0}, durations: {fixed_s: 900}}
"""


@pytest.fixture
def workload(tmp_path: Path) -> Path:
    path = tmp_path / "small.yaml"
    path.write_text(WORKLOAD, encoding="utf-8")
    return path


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, ["simulate", *args])


def run_json(*args: str) -> dict[str, Any]:
    result = invoke(*args, "--format", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert isinstance(doc, dict)
    return doc


def test_json_has_the_stable_keys(workload: Path) -> None:
    doc = run_json("--workload", str(workload), "--gpus", "64", "--seed", "3")
    assert set(STABLE_KEYS) <= set(doc)
    assert doc["jobs"] > 100 and 0 < doc["jobs_completed"] <= doc["jobs"]
    assert 0.3 < doc["utilization"] <= 1.0
    assert doc["fleet_gpus"] == 64 and doc["sim_days"] == pytest.approx(1.0)
    assert set(doc["gpu_hours_by_tier"]) == {"internal", "reserved", "on_demand", "spot"}
    assert set(doc["revenue_usd_by_tier"]) == {"reserved", "on_demand", "spot"}
    assert doc["revenue_usd_by_tier"]["on_demand"] > 0
    assert doc["p95_queue_s"] >= doc["mean_queue_s"] * 0 and doc["sim_wall_s"] > 0
    assert doc["jobs_per_second"] == pytest.approx(doc["jobs"] / doc["sim_wall_s"])
    # the timeline covers the whole run; with --warmup none so does utilisation
    whole = run_json("--workload", str(workload), "--gpus", "64", "--seed", "3", "--warmup", "none")
    assert whole["warmup_s"] == 0 and whole["measured_s"] == pytest.approx(86400)
    assert 0 < doc["warmup_s"] < 86400 / 2 and doc["utilization"] > whole["utilization"]
    timeline = whole["utilization_timeline"]
    assert timeline == doc["utilization_timeline"]
    assert timeline["interval_s"] == pytest.approx(86400 / 100)
    series = timeline["by_tier"]
    assert set(series) == set(doc["gpu_hours_by_tier"]) and len(series["spot"]) == 100
    mean = sum(sum(v) for v in series.values()) / 100
    assert mean == pytest.approx(whole["utilization"], rel=1e-3)


def test_same_seed_same_answers(workload: Path) -> None:
    runs = [run_json("--workload", str(workload), "--gpus", "64", "--seed", s) for s in "114"]
    for doc in runs:
        for key in ("sim_wall_s", "jobs_per_second"):
            doc.pop(key)
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_table_report_and_plot(workload: Path, tmp_path: Path) -> None:
    report, plot = tmp_path / "r.html", tmp_path / "r.png"
    result = invoke(
        "--workload", str(workload), "--gpus", "64", "--report", str(report), "--plot", str(plot)
    )
    assert result.exit_code == 0, result.output
    for heading in ("Digital twin: small", "By tier", "Power per site"):
        assert heading in result.stdout
    html = report.read_text(encoding="utf-8")
    assert html.count("data:image/png;base64,") == 4
    assert "http://" not in html and "https://" not in html and "<script" not in html
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@needs_traces
def test_philly_replay_with_policy_and_load() -> None:
    doc = run_json(
        "--trace",
        str(TRACES / "philly_pollux.csv"),
        "--gpus",
        "256",
        "--policy",
        "sjf",
        "--load",
        "0.7",
        "--days",
        "60",
    )
    assert doc["policy"] == "sjf" and doc["workload"] == "philly"
    assert doc["jobs"] > 1000 and doc["sim_days"] == pytest.approx(60.0)


@needs_traces
def test_alibaba_trace_on_its_own_nodes() -> None:
    doc = run_json(
        "--trace",
        str(TRACES / "alibaba_v2023_openb_pod_list_default.csv"),
        "--nodes",
        str(TRACES / "alibaba_v2023_openb_node_list_gpu_node.csv"),
    )
    assert doc["fleet_gpus"] == 6212
    assert doc["jobs"] == doc["jobs_completed"] == 7064


@needs_traces
def test_azure_trace_as_inference_demand() -> None:
    doc = run_json(
        "--trace",
        str(TRACES / "azure_llm_2023_conv.csv"),
        "--gpus",
        "512",
        "--demand-scale",
        "300",
    )
    assert doc["workload"] == "inference:azure_llm_2023_conv"
    assert doc["gpu_hours_by_tier"]["on_demand"] > 8  # at least one 8-GPU replica for an hour


def test_power_sizing_uses_the_economics_engine(workload: Path) -> None:
    doc = run_json("--workload", str(workload), "--power", "1MW", "--gpu", "B200", "--days", "0.2")
    expected = gpus_for_power(1.0, "B200", "facility", 1.2, catalogue=default_catalogue())
    assert doc["fleet_gpus"] == expected // 8 * 8


def test_fleet_in_json_and_explicit_warmup(workload: Path) -> None:
    doc = run_json(
        "--workload", str(workload), "--gpus", "2000", "--gpu", "H100", "--days", "0.1",
        "--warmup", "3600", "--external-cap-gpus", "500",
    )  # fmt: skip
    kw = default_catalogue().get("H100").it_kw_per_gpu
    assert doc["fleet"] == {
        "gpus": 2000,
        "gpus_by_type": {"H100": 2000},
        "gpu_type": "H100",
        "it_power_mw": pytest.approx(2000 * kw / 1000),
    }
    assert doc["fleet"]["it_power_mw"] == pytest.approx(2.8)  # 1.4 kW all-in IT per H100
    assert doc["warmup"] == 3600.0 and doc["warmup_s"] == 3600.0
    assert doc["measured_s"] == pytest.approx(0.1 * 86400 - 3600)
    assert doc["external_cap_gpus"] == 500
    assert doc["external_gpu_hours"] <= 500 * doc["measured_s"] / 3600 + 1e-6


def test_fleet_file(workload: Path, tmp_path: Path) -> None:
    fleet = tmp_path / "fleet.yaml"
    group = "node_groups: [{name: h, count: 4, gpu_type: H100, gpus_per_node: 8}]"
    fleet.write_text(
        f"sites:\n  - {{name: east, it_power_mw: 0.05, {group}}}\n"
        f"  - {{name: west, it_power_mw: 0.05, {group}}}\n",
        encoding="utf-8",
    )
    doc = run_json("--workload", str(workload), "--fleet", str(fleet), "--days", "0.5")
    assert set(doc["power_by_site"]) == {"east", "west"}
    # a fleet file's power is its sites' stated IT MW
    assert doc["fleet"] == {
        "gpus": 64,
        "gpus_by_type": {"H100": 64},
        "gpu_type": "H100",
        "it_power_mw": pytest.approx(0.1),
    }
    for site in doc["power_by_site"].values():
        assert 0 < site["peak_it_mw"] <= site["cap_it_mw"] + 1e-9


def test_without_a_trace_or_workload_the_builtin_million_runs() -> None:
    """``gigawatt simulate --days 365 --power 1GW`` (the issue's command) needs no file."""
    doc = run_json("--gpus", "64", "--days", "0.2")
    assert doc["workload"] == "million"
    assert doc["jobs"] > 0
    assert doc["fleet"]["gpus"] == 64


def test_a_builtin_workload_is_named_without_its_path() -> None:
    doc = run_json("--workload", "cloud-mix", "--gpus", "64", "--days", "0.2")
    assert doc["workload"] == "cloud-mix"
    assert doc["jobs"] > 0


def _trace(tmp_path: Path, text: str) -> str:
    path = tmp_path / "t.csv"
    path.write_text(text, encoding="utf-8")
    return str(path)


BAD: list[tuple[list[str], str]] = [
    (["--workload", "nope.yaml"], "no such file: nope.yaml (built-in workloads: cloud-mix,"),
    (["--workload", "{w}", "--policy", "lottery"], "policy: got 'lottery'"),
    (["--workload", "{empty}"], "empty workload"),
    (["--workload", "{w}", "--gpus", "0"], "gpus: got '0'"),
    (["--workload", "{w}", "--gpus", "many"], "gpus: got 'many'"),
    (["--workload", "{w}", "--gpus", "8", "--power", "1MW"], "give only one of --gpus, --power"),
    (["--workload", "{w}", "--power", "lots"], "power: cannot parse 'lots'"),
    (["--workload", "{w}", "--gpus", "8", "--gpu", "Z80"], "unknown GPU type 'Z80'"),
    (["--workload", "{w}", "--fleet", "/nonexistent.yaml"], "fleet: no such file"),
    (["--workload", "{w}", "--days", "-1"], "days: got '-1'"),
    (["--trace", "{neg}"], "line 3: negative duration"),
    (["--trace", "{cols}"], "missing column(s) num_gpus"),
    (
        ["--trace", "{neg}", "--load", "0.5", "--time-scale", "2"],
        "only one of --load and --time-scale",
    ),
    (["--trace", "{neg}", "--tier-mix", "gold=1"], "unknown tier 'gold'"),
    (["--workload", "{w}", "--format", "xml"], "format: got 'xml'"),
    (["--workload", "{w}", "--report", "/nonexistent/dir/r.html"], "report: cannot write"),
    (["--workload", "{w}", "--plot", "{w}/x.png"], "plot: cannot write"),
    (["--workload", "{w}", "--warmup", "soon"], "warmup: got 'soon'; allowed: auto, none"),
    (["--workload", "{w}", "--warmup", "-5"], "warmup: got '-5'; allowed: auto, none"),
    (["--workload", "{w}", "--warmup", "90000", "--days", "1"], "warmup: 90000 s is not shorter"),
    (["--workload", "{w}", "--warmup", "90000"], "warmup: 90000 s is not shorter"),
    (["--workload", "{w}", "--external-cap-gpus", "-1"], "external_cap_gpus: got '-1'"),
    (["--workload", "{w}", "--external-cap-gpus", "1.5"], "external_cap_gpus: got '1.5'"),
]


@pytest.mark.parametrize(("args", "needle"), BAD)
def test_bad_input_is_one_line_and_exit_2(
    args: list[str], needle: str, workload: Path, tmp_path: Path
) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("", encoding="utf-8")
    files = {
        "w": str(workload),
        "empty": str(empty),
        "neg": _trace(
            tmp_path, "timestamp,duration,num_gpus,gpu_time,cluster\n0,5,1,5,a\n1,-5,1,5,a\n"
        ),
        "cols": str(tmp_path / "cols.csv"),
    }
    Path(files["cols"]).write_text(
        "timestamp,duration,gpu_time,cluster\n0,1,1,a\n", encoding="utf-8"
    )
    result = invoke(*(a.format(**files) for a in args))
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ")
    assert result.stderr.count("\n") == 1
    assert needle in result.stderr
    assert "Traceback" not in result.output


def test_progress_bar_draws_on_a_terminal() -> None:
    out = io.StringIO()
    with progress_bar(100.0, Console(file=out, force_terminal=True, width=80)) as progress:
        assert progress is not None
        progress(50.0)
        progress(150.0)
    assert "simulating" in out.getvalue()
    with progress_bar(100.0, None) as silent:
        assert silent is None


def _gigawatt() -> list[str]:
    exe = shutil.which("gigawatt", path=os.path.dirname(sys.executable))
    return [exe] if exe else [sys.executable, "-c", "from gigawatt.cli.main import app; app()"]


def test_real_process(workload: Path) -> None:
    ok = subprocess.run(
        [
            *_gigawatt(),
            "simulate",
            "--workload",
            str(workload),
            "--gpus",
            "32",
            "--days",
            "0.2",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert set(STABLE_KEYS) <= set(json.loads(ok.stdout))
    bad = subprocess.run(
        [*_gigawatt(), "simulate", "--workload", str(workload), "--policy", "random"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr


def test_sweep_runs_scenarios_in_processes(workload: Path, tmp_path: Path) -> None:
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(
        f"base: {{workload: {workload.name}, gpus: 64, days: 0.5}}\n"
        "scenarios:\n  - {name: fifo, policy: fifo}\n  - {name: prio, policy: priority, seed: 2}\n",
        encoding="utf-8",
    )
    doc = run_json("--sweep", str(sweep))
    names = [(s["name"], s["policy"], s["seed"]) for s in doc["scenarios"]]
    assert names == [("fifo", "fifo", 0), ("prio", "priority", 2)]
    for s in doc["scenarios"]:
        assert set(STABLE_KEYS) <= set(s)
    single = run_json(
        "--workload", str(workload), "--gpus", "64", "--days", "0.5", "--policy", "fifo"
    )
    for key in ("jobs", "utilization", "mean_queue_s", "revenue_usd_by_tier"):
        assert doc["scenarios"][0][key] == single[key]
    table = invoke("--sweep", str(sweep))
    assert table.exit_code == 0 and "Sweep: sweep.yaml (2 scenarios)" in table.stdout
    caps = tmp_path / "caps.yaml"
    caps.write_text(
        f"base: {{workload: {workload.name}, gpus: 64, days: 0.25}}\n"
        "sweep: {external_cap_gpus: [0, 32]}\n",
        encoding="utf-8",
    )
    table = invoke("--sweep", str(caps))  # not a terminal: wide enough for every column
    assert table.exit_code == 0, table.output
    for text in ("external_cap_gpus=32", "ext. cap GPUs", "ext. revenue USD", "int. P95 s"):
        assert text in table.stdout


@pytest.mark.parametrize(
    ("text", "extra", "needle"),
    [
        ("scenarios: []\n", [], "scenarios"),
        ("scenarios:\n  - {policy: random}\n", [], "scenarios.0.policy"),
        ("scenarios:\n  - {trace: missing.csv}\n", [], "no such file"),
        ("scenarios:\n  - {gpus: 8}\n", ["--report", "r.html"], "apply to single runs"),
        ("base: {gpus: 8}\n", [], "give 'scenarios', a 'sweep' over external_cap_gpus"),
        ("sweep: {external_cap_gpus: [-1]}\n", [], "sweep.external_cap_gpus.0"),
        ("sweep: {external_cap_gpus: []}\n", [], "sweep.external_cap_gpus"),
        ("sweep: {gpus: [8]}\n", [], "sweep.external_cap_gpus: Field required"),
        ("scenarios:\n  - {warmup: soon}\n", [], "scenarios.0.warmup"),
        ("scenarios:\n  - {external_cap_gpus: -2}\n", [], "scenarios.0.external_cap_gpus"),
    ],
)
def test_bad_sweeps(tmp_path: Path, text: str, extra: list[str], needle: str) -> None:
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(text, encoding="utf-8")
    result = invoke("--sweep", str(sweep), *extra)
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and needle in result.stderr
