"""The self-contained HTML report: P&L, how the answer is built, cash flows, assumptions with
sources, tornado, Monte Carlo distribution and revenue heat map (PNG charts inlined as base64;
no scripts, fonts or anything else fetched over the network). Returns text; the caller writes it.
"""

from __future__ import annotations

import base64
from html import escape

from gigawatt.economics import charts, fmt
from gigawatt.economics.defaults import HOURS_PER_YEAR
from gigawatt.economics.evaluate import Evaluation
from gigawatt.economics.montecarlo import MonteCarloResult
from gigawatt.economics.sensitivity import Tornado

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2rem auto;
max-width:72rem;color:#222;line-height:1.45;padding:0 1rem}
h1{margin-bottom:.2rem}h2{margin-top:2.2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.6rem 0}td,th{padding:.25rem .7rem;border-bottom:1px solid
#eee;text-align:left;vertical-align:top}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.cards{display:flex;flex-wrap:wrap;gap:1rem}.card{border:1px solid #ddd;border-radius:.4rem;
padding:.6rem 1rem;min-width:9rem}.card b{display:block;font-size:1.4rem}.muted{color:#666}
img{max-width:100%}code{background:#f4f4f4;padding:0 .2rem}
"""


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{escape(alt)}" src="data:image/png;base64,{data}">'


def _table(head: list[str], rows: list[list[str]], numeric: set[int] | None = None) -> str:
    nums = numeric or set()

    def cls(i: int) -> str:
        return ' class="n"' if i in nums else ""

    out = ["<table><tr>"] + [f"<th{cls(i)}>{escape(h)}</th>" for i, h in enumerate(head)]
    out.append("</tr>")
    for row in rows:
        out.append("<tr>" + "".join(f"<td{cls(i)}>{c}</td>" for i, c in enumerate(row)) + "</tr>")
    out.append("</table>")
    return "".join(out)


def _cards(e: Evaluation) -> str:
    a = e.annual
    items = [
        ("Revenue / year", fmt.usd(a["revenue_usd"])),
        ("Operating income", fmt.usd(a["operating_income_usd"])),
        ("Operating margin", fmt.pct(a["operating_margin"])),
        ("Net income", fmt.usd(a["net_income_usd"])),
        ("EPS uplift", fmt.usd(a["eps_uplift_usd"])),
        ("GPUs", fmt.number(a["gpus"])),
        ("IT power", f"{fmt.number(a['it_power_mw'])} MW"),
    ]
    body = "".join(
        f'<div class="card"><span class="muted">{k}</span><b>{v}</b></div>' for k, v in items
    )
    return f'<div class="cards">{body}</div>'


def _derivation(e: Evaluation) -> str:
    """The arithmetic from power to EPS, with this scenario's numbers."""
    s, x, a = e.scenario, e.resolved.inputs, e.annual
    lines = []
    if s.power_basis == "facility":
        lines.append(
            f"IT power = {fmt.number(s.power_mw)} MW facility / PUE {s.pue:g} = "
            f"{fmt.number(a['it_power_mw'])} MW"
        )
    lines.append(
        f"GPUs = {fmt.number(a['it_power_mw'])} MW x 1,000 / {x['kw_per_gpu']:.3g} kW "
        f"per GPU = {fmt.number(a['gpus'])}"
    )
    if x["share_gpu_hours"] > 0:
        lines.append(
            f"GPU-hour revenue = {fmt.number(a['gpus'])} GPUs x {1 - s.internal_share:.0%} sold "
            f"x {x['share_gpu_hours']:.0%} by the hour x {HOURS_PER_YEAR:,.0f} h x "
            f"{s.utilization:.0%} billed x {fmt.usd(x['price_per_gpu_hour'])} = "
            f"{fmt.usd(a['revenue_gpu_hours_usd'])}"
        )
    if x["share_tokens"] > 0:
        lines.append(
            f"Token revenue = {fmt.number(a['tokens_billed'])} tokens x "
            f"{fmt.usd(x['token_price_per_million'])}/M = "
            f"{fmt.usd(a['revenue_tokens_usd'])}"
        )
    if x["share_lease"] > 0:
        lines.append(
            f"Lease revenue = leased watts x {fmt.usd(x['lease_price_per_watt_year'])}"
            f"/W-year = {fmt.usd(a['revenue_lease_usd'])}"
        )
    lines += [
        f"Power = {fmt.number(a['facility_power_mw'])} MW facility x {s.load_factor:.0%} load x "
        f"{HOURS_PER_YEAR:,.0f} h x {fmt.usd(s.power_price_per_mwh)}/MWh = "
        f"{fmt.usd(a['power_cost_usd'])}",
        f"Depreciation ({s.cost_basis} basis) = {fmt.usd(a['depreciation_usd'])}"
        + (
            f" (capex {fmt.usd(a['capex_usd'])} / {s.life_years:g} years)"
            if s.cost_basis == "full"
            else " (capacity already built and in the forecast)"
        ),
        f"Opex = {fmt.usd(s.opex_per_mw_year)}/MW-year x {fmt.number(a['it_power_mw'])} MW + "
        f"{s.opex_pct_revenue:.0%} of revenue = {fmt.usd(a['opex_usd'])}",
        f"Operating income = {fmt.usd(a['operating_income_usd'])}; tax at {s.tax_rate:.0%} = "
        f"{fmt.usd(a['tax_usd'])}; net income = {fmt.usd(a['net_income_usd'])}",
        f"EPS uplift = {fmt.usd(a['net_income_usd'])} / {fmt.number(s.diluted_shares)} diluted "
        f"shares = {fmt.usd(a['eps_uplift_usd'])}",
    ]
    return "<ol>" + "".join(f"<li>{escape(line)}</li>" for line in lines) + "</ol>"


def _pnl(e: Evaluation) -> str:
    a = e.annual
    rows = [
        ("Revenue", a["revenue_usd"]),
        ("Power", -a["power_cost_usd"]),
        ("Depreciation", -a["depreciation_usd"]),
        ("Operations (opex)", -a["opex_usd"]),
        ("Operating income", a["operating_income_usd"]),
        ("Tax", -a["tax_usd"]),
        ("Net income", a["net_income_usd"]),
    ]
    body = [[escape(k), fmt.usd(v)] for k, v in rows]
    body.append(["EPS uplift", fmt.usd(a["eps_uplift_usd"])])
    body.append(["Internal value (not in P&amp;L)", fmt.usd(a["internal_value_usd"])])
    return _table(["Line (run-rate year)", "USD"], body, {1})


def _cash(e: Evaluation) -> str:
    keys = ("revenue_usd", "operating_income_usd", "net_income_usd", "cash_flow_usd")
    rows = [["0", "", "", "", fmt.usd(e.investment_usd)]]
    rows += [[str(y["year"])] + [fmt.usd(y[k]) for k in keys] for y in e.years]
    table = _table(
        ["Year", "Revenue", "Operating income", "Net income", "Cash flow"], rows, {1, 2, 3, 4}
    )
    irr = fmt.pct(e.irr) if e.irr is not None else "n/a (nothing invested or never recovered)"
    payback = f"{e.payback_years:.2f} years" if e.payback_years is not None else "never"
    if e.investment_usd >= 0:
        payback = "n/a (nothing invested)"
    be = e.break_even_price_per_gpu_hour
    return (
        f"{table}<p>NPV at {e.scenario.discount_rate:.1%}: <b>{fmt.usd(e.npv_usd)}</b> · "
        f"IRR: {irr} · payback: {payback} · break-even price (NPV = 0): "
        f"<b>{fmt.usd(be) if be is not None else 'n/a'}</b> per GPU-hour "
        f"({escape(e.scenario.cost_basis)} basis)</p>"
    )


def _comparison(full: Evaluation) -> str:
    a = full.annual
    irr = fmt.pct(full.irr) if full.irr is not None else "n/a"
    be = full.break_even_price_per_gpu_hour
    return (
        "<h2>If the capacity had to be built for it (full basis)</h2><p>"
        f"Depreciation {fmt.usd(a['depreciation_usd'])} a year on capex {fmt.usd(a['capex_usd'])}"
        f" brings operating income to {fmt.usd(a['operating_income_usd'])} and the EPS uplift to "
        f"<b>{fmt.usd(a['eps_uplift_usd'])}</b>. NPV {fmt.usd(full.npv_usd)}, IRR {irr}, "
        f"break-even price {fmt.usd(be) if be is not None else 'n/a'} per GPU-hour.</p>"
    )


def _tornado(t: Tornado) -> str:
    m = t.metric
    rows = [
        [
            escape(r.input.label),
            fmt.value(r.input.low),
            fmt.value(r.input.high),
            fmt.usd(r.at_low[m]),
            fmt.usd(r.at_high[m]),
            fmt.usd(r.swing),
            escape(r.input.source),
        ]
        for r in t.rows
    ]
    head = ["Input", "Low", "High", f"{m} at low", f"{m} at high", "Swing", "Source of range"]
    return (
        f"<h2>What moves the answer (tornado of {escape(m)})</h2>"
        f"{_img(charts.tornado_png(t), 'tornado')}{_table(head, rows, {1, 2, 3, 4, 5})}"
    )


def _monte_carlo(mc: MonteCarloResult) -> str:
    pct = mc.percentiles()
    rows = [
        [escape(k)] + [fmt.usd(v[p]) for p in ("p5", "p50", "p95", "mean")] for k, v in pct.items()
    ]
    dists = [
        [escape(u.name), escape(fmt.value(u.distribution.describe(u.base))), escape(u.source)]
        for u in mc.inputs
    ]
    return (
        f"<h2>Uncertainty (Monte Carlo, {mc.draws:,} draws, seed {mc.seed})</h2>"
        f"{_img(charts.histogram_png(mc), 'Monte Carlo distributions')}"
        f"{_table(['Output', 'P5', 'P50', 'P95', 'Mean'], rows, {1, 2, 3, 4})}"
        f"<h3>Distributions drawn</h3>{_table(['Input', 'Distribution', 'Source'], dists)}"
    )


def render_report(
    e: Evaluation,
    tornado: Tornado,
    mc: MonteCarloResult,
    full_basis: Evaluation | None = None,
) -> str:
    """The whole report as one HTML document."""
    s = e.scenario
    assumptions = [
        [escape(k), escape(fmt.value(v["value"])), escape(str(v["source"]))]
        for k, v in e.assumptions.items()
    ]
    parts = [
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>Gigawatt: "
        f"{escape(s.name)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>What is it worth? {escape(s.name)}</h1>",
        f"<p class=muted>{escape(s.description)}</p>" if s.description else "",
        _cards(e),
        "<h2>How the answer is built</h2>",
        _derivation(e),
        "<h2>P&amp;L of a run-rate year</h2>",
        _pnl(e),
        f"<h2>Over the asset life ({len(e.years)} years)</h2>",
        _cash(e),
        _comparison(full_basis) if full_basis is not None else "",
        _tornado(tornado),
        _monte_carlo(mc),
        "<h2>Revenue by price and utilisation</h2>",
        _img(charts.heatmap_png(e.resolved), "revenue heat map"),
        "<h2>Assumptions and sources</h2>",
        "<p class=muted>“estimate” marks Gigawatt's own assumptions; the rest cite their "
        "source.</p>",
        _table(["Input", "Value", "Source"], assumptions),
        "<p class=muted>Generated by <code>gigawatt value</code>. Figures are floats in US "
        "dollars per year unless stated; see docs/economics.md for the model.</p>",
        "</body></html>",
    ]
    return "\n".join(p for p in parts if p)
