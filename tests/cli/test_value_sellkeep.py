"""``gigawatt value`` answers sell or keep: JSON sections, the best split, --compare, the new
inputs, every bad input as one line and exit 2, and --from-sim with the simulated fleet."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gigawatt.cli.main import app

SEGMENT_LINES = (
    "revenue_or_value_usd",
    "power_cost_usd",
    "depreciation_usd",
    "opex_usd",
    "selling_cost_usd",
    "operating_income_usd",
    "tax_usd",
    "net_income_usd",
    "eps_usd",
)


def run(*args: str) -> Any:
    return CliRunner().invoke(app, ["value", *args])


def run_json(*args: str) -> dict[str, Any]:
    result = run(*args, "--format", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert isinstance(doc, dict)
    return doc


def test_segments_valuation_and_allocation_sections() -> None:
    doc = run_json(
        "--preset", "meta-2026-base", "--optimize", "internal_share", "--objective", "npv"
    )
    for wheel in ("external", "internal"):
        for line in SEGMENT_LINES:
            assert isinstance(doc["segments"][wheel][line], float), (wheel, line)
    total = (
        doc["segments"]["external"]["net_income_usd"]
        + doc["segments"]["internal"]["net_income_usd"]
    )
    assert total == pytest.approx(doc["net_income_usd"])
    v = doc["valuation"]
    for key in (
        "by_segment",
        "rerating_usd",
        "equity_value_change_usd",
        "price_per_share_change_usd",
        "vs_keep_all_per_share_usd",
    ):
        assert key in v
    a = doc["allocation"]
    assert a["objective"] == "npv" and 0 < a["optimal_internal_share"] < 1
    assert len(a["frontier"]) == 101
    assert {"internal_share", "eps_usd", "npv_usd", "equity_value_usd"} <= set(a["frontier"][0])
    assert a["objective_value"] >= max(p["npv_usd"] for p in a["frontier"]) - 1.0
    assert a["break_even_internal_value_per_gpu_hour"] > 0
    assert doc["assumptions"]["internal_share"]["source"].startswith("optimised for npv")


def test_internal_value_changes_eps_and_npv() -> None:
    args = ("--preset", "jpm-meta-2026", "--internal-share", "0.5")
    low = run_json(*args, "--internal-value", "3")
    high = run_json(*args, "--internal-value", "10")
    assert high["eps_uplift_usd"] > low["eps_uplift_usd"]
    assert high["multi_year"]["npv_usd"] > low["multi_year"]["npv_usd"]
    assert run_json("--preset", "jpm-meta-2026", "--internal-share", "1")["eps_uplift_usd"] > 0


def test_compare_three_strategies() -> None:
    doc = run_json("--compare", "meta-infra-supplier", "meta-super-app", "meta-dual-wheel")
    rows = {r["preset"]: r for r in doc["compare"]}
    assert set(rows) == {"meta-infra-supplier", "meta-super-app", "meta-dual-wheel"}
    assert rows["meta-infra-supplier"]["internal_share"] == 0.0
    assert rows["meta-super-app"]["internal_share"] == 1.0
    assert rows["meta-dual-wheel"]["optimised"] is True
    best = rows["meta-dual-wheel"]["equity_value_change_usd"]
    assert all(best >= r["equity_value_change_usd"] for r in rows.values())
    table = run("--compare", "meta-infra-supplier,meta-super-app")
    assert table.exit_code == 0 and "Sell, keep, or both?" in table.stdout


def test_compare_writes_a_report(tmp_path: Path) -> None:
    out = tmp_path / "c.html"
    result = run(
        "--compare",
        "meta-infra-supplier",
        "meta-super-app",
        "meta-dual-wheel",
        "--report",
        str(out),
    )
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    assert "Sell, keep, or both?" in html and html.count("data:image/png;base64,") == 2
    assert "https://" not in html


def test_year_takes_that_years_shares_unless_a_flag_gives_them() -> None:
    doc = run_json("--preset", "meta-2026-base", "--year", "2026")
    assert doc["assumptions"]["diluted_shares"]["source"].startswith("fiscal year 2026")
    flagged = run_json("--preset", "meta-2026-base", "--year", "2026", "--shares", "3B")
    assert flagged["assumptions"]["diluted_shares"]["value"] == 3e9


def test_gpu_on_a_preset_brings_its_catalogue_kw_and_prices() -> None:
    doc = run_json("--preset", "jpm-meta-2026", "--gpu", "H100")
    assert doc["assumptions"]["kw_per_gpu"]["value"] == 1.4
    assert doc["assumptions"]["price_per_gpu_hour.reserved"]["value"] == 2.35
    kept = run_json("--preset", "jpm-meta-2026", "--gpu", "H100", "--kw-per-gpu", "2.0")
    assert kept["gpus"] == 500_000


def test_token_price_out_of_market_range_warns() -> None:
    result = run(
        "--preset", "jpm-meta-2026", "--sell", "tokens", "--token-price", "10", "--format", "json"
    )
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert any("market range" in w for w in doc["warnings"])
    assert "warning: selling tokens implies" in result.stderr


def test_lease_mode_has_a_break_even_and_no_negative_zero() -> None:
    doc = run_json("--preset", "jpm-meta-2026", "--sell", "lease")
    assert doc["break_even"]["lease_price_per_watt_year_npv_zero"] is not None
    free = run(
        "--power",
        "10MW",
        "--power-price",
        "0",
        "--opex-per-mw-year",
        "0",
        "--cost-basis",
        "incremental",
        "--format",
        "json",
    )
    assert "-0.0" not in free.stdout
    table = run(
        "--power",
        "10MW",
        "--power-price",
        "0",
        "--opex-per-mw-year",
        "0",
        "--cost-basis",
        "incremental",
    )
    assert "-$0.00" not in table.stdout


BAD: dict[str, tuple[list[str], str]] = {
    "elasticity 0": (["--internal-value-elasticity", "0"], "internal_value_elasticity"),
    "elasticity above 1": (["--internal-value-elasticity", "1.5"], "internal_value_elasticity"),
    "negative multiple": (["--cloud-pe", "-3"], "cloud_pe"),
    "negative platform multiple": (["--platform-pe", "-1"], "platform_pe"),
    "negative premium": (["--price-premium-when-scarce", "-0.1"], "price_premium_when_scarce"),
    "margin 1": (["--operating-margin", "1"], "operating_margin"),
    "margin -1": (["--operating-margin", "-100%"], "operating_margin"),
    "margin with its costs": (
        ["--operating-margin", "0.3", "--opex-pct-revenue", "0.1"],
        "operating_margin",
    ),
    "lease longer than life": (
        ["--lease-term-years", "9", "--life-years", "5"],
        "lease_term_years",
    ),
    "unknown objective": (["--optimize", "internal_share", "--objective", "revenue"], "objective"),
    "eps without shares": (["--optimize", "internal_share", "--objective", "eps"], "objective"),
    "unknown optimize": (["--optimize", "price"], "optimize"),
    "move without price": (
        ["--observed-price-move", "-3%", "--shares", "2B"],
        "observed_price_move",
    ),
    "unknown year": (["--preset", "meta-2026-base", "--year", "1999"], "year"),
    "compare one": (["--compare", "meta-super-app"], "compare"),
    "stray argument": (["meta-super-app"], "compare"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_line_and_exit_2(case: str) -> None:
    args, field = BAD[case]
    result = run(*args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert field in lines[0] and "allowed" in lines[0], lines[0]
    assert "Traceback" not in result.output


def test_correlation_not_psd_in_a_scenario_file(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "correlation:\n  inputs: [price_per_gpu_hour, utilization, pue]\n"
        "  matrix: [[1, 0.9, 0.9], [0.9, 1, -0.9], [0.9, -0.9, 1]]\n",
        encoding="utf-8",
    )
    result = run("--scenario", str(path))
    assert result.exit_code == 2
    assert "correlation" in result.stderr and "positive semi-definite" in result.stderr


def _sweep_point(
    cap: int, ext_rev: float, ext_h: float, int_h: float, p95: float
) -> dict[str, Any]:
    return {
        "name": f"external_cap_gpus={cap}",
        "external_cap_gpus": cap,
        "external_revenue_usd": ext_rev,
        "external_gpu_hours": ext_h,
        "internal_gpu_hours": int_h,
        "internal_mean_queue_s": p95 / 3,
        "internal_p95_queue_s": p95,
        "measured_s": 86400.0,
        "warmup_s": 3600.0,
        "fleet": {
            "gpus": 2000,
            "gpus_by_type": {"H100": 2000},
            "gpu_type": "H100",
            "it_power_mw": 2.8,
        },
    }


def test_from_sim_values_the_simulated_fleet(tmp_path: Path) -> None:
    single = {
        "utilization": 0.8,
        "gpu_hours_by_tier": {"internal": 20000, "reserved": 18400},
        "revenue_usd_by_tier": {"reserved": 43240},
        "fleet": {
            "gpus": 2000,
            "gpus_by_type": {"H100": 2000},
            "gpu_type": "H100",
            "it_power_mw": 2.8,
        },
    }
    path = tmp_path / "sim.json"
    path.write_text(json.dumps(single), encoding="utf-8")
    doc = run_json("--from-sim", str(path))
    assert doc["gpus"] == 2000 and doc["gpus_by_type"] == {"H100": 2000}
    assert doc["it_power_mw"] == pytest.approx(2.8)
    assert doc["assumptions"]["tier_mix"]["value"] == {"reserved": 1.0}
    assert run_json("--from-sim", str(path), "--power", "1GW", "--power-basis", "it")["gpus"] > 2000


def test_from_sim_sweep_builds_the_simulated_frontier(tmp_path: Path) -> None:
    points = [
        _sweep_point(0, 0.0, 0.0, 40000, 100),
        _sweep_point(500, 20000, 9000, 38000, 900),
        _sweep_point(1000, 38000, 17000, 33000, 4000),
        _sweep_point(2000, 60000, 26000, 22000, 20000),
    ]
    path = tmp_path / "sweep.json"
    path.write_text(json.dumps({"scenarios": points}), encoding="utf-8")
    doc = run_json("--from-sim", str(path), "--internal-value", "2.0", "--shares", "1B")
    assert doc["gpus"] == 2000
    sim = doc["allocation"]["simulated_frontier"]
    assert len(sim["points"]) == 4
    deferred = [p["deferred_internal_gpu_hours"] for p in sim["points"]]
    assert deferred[0] == 0.0 and deferred == sorted(deferred)
    year = 8760 * 3600 / 86400
    assert sim["points"][1]["external_revenue_usd"] == pytest.approx(20000 * year)
    assert sim["points"][2]["deferred_internal_value_usd"] == pytest.approx(7000 * year * 2.0)
    assert sim["best"] in sim["points"]
    table = run("--from-sim", str(path), "--internal-value", "2.0")
    assert table.exit_code == 0 and "Simulated frontier" in table.stdout


def test_real_twin_sweep_feeds_the_frontier(tmp_path: Path) -> None:
    """The packaged sell-or-keep sweep, run by the twin, valued by the engine."""
    from importlib import resources

    sweep = resources.files("gigawatt.sim").joinpath("sweeps/sell-or-keep.yaml")
    sim = CliRunner().invoke(app, ["simulate", "--sweep", str(sweep), "--format", "json"])
    assert sim.exit_code == 0, sim.output
    path = tmp_path / "sweep.json"
    path.write_text(sim.stdout, encoding="utf-8")
    doc = run_json("--from-sim", str(path), "--optimize", "internal_share")
    assert doc["gpus"] == 2000 and doc["gpus_by_type"] == {"H100": 2000}
    points = doc["allocation"]["simulated_frontier"]["points"]
    caps = [p["external_cap_gpus"] for p in points]
    assert caps == sorted(caps) and len(points) == 5
    revenue = [p["external_revenue_usd"] for p in points]
    assert revenue[-1] > revenue[0] == 0.0
    assert points[-1]["deferred_internal_gpu_hours"] > 0
    assert len(doc["allocation"]["frontier"]) == 101
    report = tmp_path / "r.html"
    result = run("--from-sim", str(path), "--report", str(report), "--monte-carlo", "2000")
    assert result.exit_code == 0, result.output
    assert "simulated frontier" in report.read_text(encoding="utf-8")
