"""The HTML report is self-contained and the charts are real PNGs."""

from __future__ import annotations

import base64
import re

import numpy as np
import pytest

from gigawatt.economics import evaluate, load_preset, monte_carlo, sensitivity
from gigawatt.economics.charts import heatmap_png, histogram_png, revenue_grid, tornado_png
from gigawatt.economics.fmt import number, pct, usd
from gigawatt.economics.report import render_report

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def html() -> str:
    s = load_preset("jpm-meta-2026")
    e = evaluate(s)
    full = evaluate(s.with_values({"cost_basis": "full"}, "comparison"))
    return render_report(e, sensitivity(e.resolved), monte_carlo(e.resolved, 5_000), full)


def test_report_is_self_contained(html: str) -> None:
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(images) == 3  # tornado, Monte Carlo, heat map
    assert all(base64.b64decode(i).startswith(PNG) for i in images)
    assert not re.search(r'(src|href)="(?!data:)', html)
    assert "<script" not in html and "<link" not in html and "@import" not in html


def test_report_has_every_section_and_the_sources(html: str) -> None:
    for heading in (
        "How the answer is built",
        "P&amp;L of a run-rate year",
        "Over the asset life",
        "full basis",
        "tornado",
        "Monte Carlo",
        "Revenue by price and utilisation",
        "Assumptions and sources",
    ):
        assert heading in html
    assert "$19.73B" in html and "$5.13" in html
    assert "Meta FY2025 effective tax rate about 13%" in html
    assert "500,000 GPUs x 100% sold" in html


def test_charts_are_pngs() -> None:
    r = evaluate(load_preset("hopper-2026")).resolved
    assert tornado_png(sensitivity(r)).startswith(PNG)
    assert histogram_png(monte_carlo(r, 2_000)).startswith(PNG)
    assert heatmap_png(r, steps=5).startswith(PNG)


def test_revenue_grid_is_vectorised_and_monotone() -> None:
    r = evaluate(load_preset("jpm-meta-2026")).resolved
    grid = revenue_grid(r, np.array([4.0, 5.0, 6.0]), np.array([0.5, 0.75, 1.0]))
    assert grid.shape == (3, 3)
    assert np.all(np.diff(grid, axis=0) > 0) and np.all(np.diff(grid, axis=1) > 0)
    assert grid[2, 2] == pytest.approx(500_000 * 8760 * 6.0)


def test_formatting() -> None:
    assert usd(19.73e9) == "$19.73B"
    assert usd(-1.02e9) == "-$1.02B"
    assert usd(None) == "n/a"
    assert number(500_000) == "500,000"
    assert number(4.38e9) == "4.38B"
    assert pct(0.768) == "76.8%"
