"""``gigawatt value``: the hand check, stable JSON keys, presets, files, and every bad input."""

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
from gigawatt.cli.value import parse_amount, progress_bar

HAND = [
    "--power",
    "100MW",
    "--power-basis",
    "it",
    "--kw-per-gpu",
    "1.0",
    "--price",
    "2",
    "--utilization",
    "1",
    "--format",
    "json",
]
KEYS = (
    "it_power_mw",
    "gpus",
    "gpu_hours_billed",
    "revenue_usd",
    "power_cost_usd",
    "depreciation_usd",
    "opex_usd",
    "operating_income_usd",
    "operating_margin",
    "net_income_usd",
    "eps_uplift_usd",
    "assumptions",
)


def run(*args: str) -> Any:
    result = CliRunner().invoke(app, ["value", *args])
    return result


def run_json(*args: str) -> dict[str, Any]:
    result = run(*args, "--format", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert isinstance(doc, dict)
    return doc


def test_hand_check() -> None:
    result = run(*HAND)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["gpus"] == 100_000
    assert doc["revenue_usd"] == 1_752_000_000
    assert doc["gpu_hours_billed"] == 100_000 * 8760


def test_stable_keys_and_plain_float_usd() -> None:
    doc = run_json("--power", "250MW")
    for key in KEYS:
        assert key in doc, key
    for key in KEYS:
        if key == "eps_uplift_usd":
            assert doc[key] is None  # no share count given: no EPS, never a placeholder
        elif key.endswith("_usd") or key in ("it_power_mw", "operating_margin"):
            assert isinstance(doc[key], float), key
    assert isinstance(doc["gpus"], int)
    assert isinstance(run_json("--power", "250MW", "--shares", "2B")["eps_uplift_usd"], float)
    assert doc["assumptions"]["power_mw"] == {"value": 250.0, "source": "command line (--power)"}
    assert "monte_carlo" not in doc and "sensitivity" not in doc


def test_defaults_apply_without_preset_and_are_sourced() -> None:
    doc = run_json()
    a = doc["assumptions"]
    assert a["power_mw"]["value"] == 1000.0 and a["pue"]["value"] == 1.2
    assert a["internal_share"]["value"] == 0.0
    assert all(item["source"] for item in a.values())
    assert doc["it_power_mw"] == pytest.approx(1000 / 1.2)


def test_preset_reproduces_jpm_and_cites_sources() -> None:
    doc = run_json("--preset", "jpm-meta-2026")
    assert 18e9 <= doc["revenue_usd"] <= 22e9
    assert 3.0 <= doc["eps_uplift_usd"] <= 6.0
    assert "Meta FY2025" in doc["assumptions"]["diluted_shares"]["source"]
    assert doc["multi_year"]["cost_basis"] == "incremental"


def test_flags_override_the_preset() -> None:
    base = run_json("--preset", "jpm-meta-2026")
    cheaper = run_json(
        "--preset",
        "jpm-meta-2026",
        "--price",
        "2.65",
        "--shares",
        "2.57B",
        "--tax-rate",
        "13%",
        "--cost-basis",
        "full",
        "--capex-per-gw",
        "$35B",
    )
    assert cheaper["revenue_usd"] == pytest.approx(base["revenue_usd"] / 2)
    assert cheaper["assumptions"]["price_per_gpu_hour"]["source"] == "command line (--price)"
    assert cheaper["assumptions"]["tax_rate"]["value"] == pytest.approx(0.13)
    assert cheaper["depreciation_usd"] == pytest.approx(35e9 / 5.5)


def test_gpu_flag_replaces_the_preset_mix() -> None:
    doc = run_json("--preset", "hopper-2026", "--gpu", "gb300")
    assert doc["gpus_by_type"].keys() == {"GB300"}


def test_lease_price_alone_sells_a_lease() -> None:
    doc = run_json("--power", "100MW", "--power-basis", "it", "--lease-price-per-watt-year", "12")
    assert doc["revenue_usd"] == pytest.approx(100e6 * 12)
    assert doc["gpu_hours_billed"] == 0.0
    tokens = run_json("--sell", "tokens", "--token-price", "1")
    assert tokens["revenue_by_stream_usd"]["tokens"] == tokens["revenue_usd"] > 0


def test_monte_carlo_and_sensitivity_sections() -> None:
    args = ("--preset", "jpm-meta-2026", "--monte-carlo", "20000", "--seed", "4", "--sensitivity")
    doc = run_json(*args)
    mc = doc["monte_carlo"]
    assert mc["draws"] == 20_000 and mc["seed"] == 4
    for name in ("revenue_usd", "operating_income_usd", "eps_uplift_usd"):
        p = mc["percentiles"][name]
        assert p["p5"] <= p["p50"] <= p["p95"]
    assert run_json(*args)["monte_carlo"] == mc
    rows = doc["sensitivity"]["rows"]
    assert [r["swing"] for r in rows] == sorted((r["swing"] for r in rows), reverse=True)
    assert doc["sensitivity"]["metric"] == "eps_uplift_usd"


def test_target_revenue_solves_the_price() -> None:
    doc = run_json("--preset", "jpm-meta-2026", "--target-revenue", "20B")
    price = doc["break_even"]["price_per_gpu_hour_for_target_revenue"]
    assert price == pytest.approx(20e9 / (500_000 * 8760 * 0.85))


def test_report_and_plot(tmp_path: Path) -> None:
    report, plot = tmp_path / "r.html", tmp_path / "t.png"
    result = run(
        "--preset",
        "jpm-meta-2026",
        "--report",
        str(report),
        "--plot",
        str(plot),
        "--monte-carlo",
        "5000",
    )
    assert result.exit_code == 0, result.output
    html = report.read_text(encoding="utf-8")
    # tornado, Monte Carlo, heat map, the frontier of the split and the valuation bridge
    assert html.count("data:image/png;base64,") == 5
    assert "Sell, keep, or both?" in html and "$20.00B" in html
    assert "--preset jpm-meta-2026" in html or "gigawatt" in html
    assert "http://" not in html and "https://" not in html
    assert plot.read_bytes().startswith(b"\x89PNG")
    assert "Revenue" in result.stdout  # table output by default


def test_scenario_file_extends_a_preset(tmp_path: Path) -> None:
    f = tmp_path / "s.yaml"
    f.write_text("extends: jpm-meta-2026\nutilization: {value: 0.9, source: my desk}\n")
    doc = run_json("--scenario", str(f))
    assert doc["revenue_usd"] == pytest.approx(500_000 * 8760 * 0.9 * 5.30)
    assert doc["assumptions"]["utilization"]["source"] == "my desk"


def test_from_sim(tmp_path: Path) -> None:
    sim = tmp_path / "sim.json"
    sim.write_text(
        json.dumps(
            {
                "utilization": 0.8,
                "gpu_hours_by_tier": {
                    "internal": 250,
                    "reserved": 600,
                    "on_demand": 100,
                    "spot": 50,
                },
                "revenue_usd_by_tier": {"reserved": 2400, "on_demand": 500, "spot": 100},
            }
        )
    )
    doc = run_json(
        "--from-sim", str(sim), "--power", "100MW", "--power-basis", "it", "--kw-per-gpu", "1"
    )
    a = doc["assumptions"]
    assert a["utilization"]["value"] == 0.8
    assert a["internal_share"]["value"] == pytest.approx(0.25)
    assert a["tier_mix"]["value"] == pytest.approx(
        {"reserved": 0.8, "on_demand": 2 / 15, "spot": 1 / 15}
    )
    assert a["utilization"]["source"] == f"simulation result {sim}"
    # realised prices: reserved $4, on-demand $5, spot $2 per GPU-hour
    billed = 100_000 * 0.75 * 8760 * 0.8
    assert doc["gpu_hours_billed"] == pytest.approx(billed)
    assert doc["revenue_usd"] == pytest.approx(billed * (0.8 * 4 + 2 / 15 * 5 + 1 / 15 * 2))


def test_list_presets() -> None:
    result = run("--list-presets")
    assert result.exit_code == 0
    assert "jpm-meta-2026" in result.stdout.split()


#: case -> (flag, file name, file text or None for a missing file, text the error must contain)
BAD_FILES = {
    "unknown key": ("--scenario", "s.yaml", "pue: 1.1\ncolour: red\n", "colour"),
    "malformed yaml": ("--scenario", "s.yaml", "pue: [1.1\n", "scenario"),
    "not a mapping": ("--scenario", "s.yaml", "- 1\n- 2\n", "mapping"),
    "bad value in file": ("--scenario", "s.yaml", "utilization: 2\n", "utilization"),
    "bad value wrapper": ("--scenario", "s.yaml", "pue: {value: 1.1, sauce: x}\n", "sauce"),
    "missing file": ("--scenario", "none.yaml", None, "scenario"),
    "bad sim json": ("--from-sim", "sim.json", "{not json", "from_sim"),
    "sim out of range": ("--from-sim", "sim.json", '{"utilization": 1.7}', "utilization"),
}


BAD_FLAGS = [
    (["--power", "-5MW"], "power"),
    (["--power", "0"], "power"),
    (["--power", "0MW"], "power"),
    (["--power", "1GWW"], "power"),
    (["--pue", "0.99"], "pue"),
    (["--utilization", "1.5"], "utilization"),
    (["--utilization", "-0.2"], "utilization"),
    (["--internal-share", "1.1"], "internal_share"),
    (["--internal-share", "-1"], "internal_share"),
    (["--gpu", "X100"], "gpu"),
    (["--preset", "nope"], "preset"),
    (["--power-basis", "grid"], "power_basis"),
    (["--cost-basis", "half"], "cost_basis"),
    (["--price", "cheap"], "price_per_gpu_hour"),
    (["--tax-rate", "1.3"], "tax_rate"),
    (["--shares", "0"], "diluted_shares"),
    (["--life-years", "-1"], "life_years"),
    (["--kw-per-gpu", "0"], "kw_per_gpu"),
    (["--monte-carlo", "many"], "monte_carlo"),
    (["--monte-carlo", "0"], "monte_carlo"),
    (["--format", "xml"], "format"),
    (["--sell", "barter"], "sell"),
    (["--sensitivity-metric", "joy"], "sensitivity_metric"),
]


@pytest.mark.parametrize(("args", "field"), BAD_FLAGS, ids=[" ".join(a) for a, _ in BAD_FLAGS])
def test_bad_flags_exit_2_with_one_line(args: list[str], field: str) -> None:
    result = run(*args)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {field}")
    assert (
        "allowed" in lines[0] or "use a positive number" in lines[0] or "greater than" in lines[0]
    )
    assert "Traceback" not in result.output
    assert result.stdout == ""


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_files_exit_2_with_one_line(case: str, tmp_path: Path) -> None:
    flag, name, text, needle = BAD_FILES[case]
    path = str(tmp_path / name)
    if text is not None:
        Path(path).write_text(text, encoding="utf-8")
    result = run(flag, path)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert needle in lines[0]
    assert "Traceback" not in result.output


def test_unwritable_report_is_a_clean_error(tmp_path: Path) -> None:
    result = run("--plot", str(tmp_path / "missing-dir" / "t.png"))
    assert result.exit_code == 2
    assert result.stderr.startswith("error: plot: cannot write")


def test_parse_amount_suffixes() -> None:
    assert parse_amount("2.57B", "diluted_shares") == pytest.approx(2.57e9)
    assert parse_amount("$35B", "capex_per_gw") == pytest.approx(35e9)
    assert parse_amount("13%", "tax_rate") == pytest.approx(0.13)
    assert parse_amount("1e6", "x") == 1e6


def test_progress_bar_draws_on_a_terminal() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=80)
    with progress_bar(100, console) as progress:
        progress(50, 100)
        progress(100, 100)
    assert "Monte Carlo" in out.getvalue()
    with progress_bar(100, None) as silent:
        silent(100, 100)


def _gigawatt() -> list[str]:
    exe = shutil.which("gigawatt", path=os.path.dirname(sys.executable))
    return [exe] if exe else [sys.executable, "-c", "from gigawatt.cli.main import app; app()"]


def test_real_process_hand_check_and_bad_power() -> None:
    ok = subprocess.run(
        [*_gigawatt(), "value", *HAND], capture_output=True, text=True, timeout=120, check=False
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["revenue_usd"] == 1_752_000_000
    bad = subprocess.run(
        [*_gigawatt(), "value", "--power", "1GWW"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr
    assert bad.stderr.startswith("error: power:")


def test_table_output_shows_every_section() -> None:
    result = run("--preset", "jpm-meta-2026", "--sensitivity", "--monte-carlo", "2000")
    assert result.exit_code == 0, result.output
    out = result.stdout
    for text in ("run-rate year", "$19.73B", "$5.13", "Tornado", "Monte Carlo", "Assumptions"):
        assert text in out
