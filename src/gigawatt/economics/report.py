"""The self-contained HTML report: P&L, how the answer is built, cash flows, assumptions with
sources, tornado, Monte Carlo distribution and revenue heat map (PNG charts inlined as base64;
no scripts, fonts or anything else fetched over the network). Returns text; the caller writes it.
"""

from __future__ import annotations

from html import escape

from gigawatt.economics import charts, fmt
from gigawatt.economics.defaults import HOURS_PER_YEAR
from gigawatt.economics.evaluate import Evaluation
from gigawatt.economics.montecarlo import MonteCarloResult
from gigawatt.economics.report_html import STYLE, img, table
from gigawatt.economics.report_sellkeep import ReportContext, footer, sell_keep_section
from gigawatt.economics.sensitivity import Tornado

__all__ = ["ReportContext", "render_report"]


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
        f"Internal value = {fmt.number(a['internal_gpus'])} GPUs kept: "
        f"{fmt.usd(x['internal_value_per_gpu_hour'])}/GPU-hour x 8,760 h x utilisation x "
        f"(kept / reference)^{x['internal_value_elasticity']:g} = "
        f"{fmt.usd(a['internal_value_usd'])}",
        f"Operating income = {fmt.usd(a['operating_income_usd'])}; tax at "
        f"{x['tax_rate']:.0%} = "
        f"{fmt.usd(a['tax_usd'])}; net income = {fmt.usd(a['net_income_usd'])}",
        f"EPS uplift = {fmt.usd(a['net_income_usd'])} / {fmt.number(x['diluted_shares'])} "
        f"diluted shares = {fmt.usd(a['eps_uplift_usd'])}",
    ]
    return "<ol>" + "".join(f"<li>{escape(line)}</li>" for line in lines) + "</ol>"


def _pnl(e: Evaluation) -> str:
    a = e.annual
    rows = [
        ("Revenue", a["revenue_usd"]),
        ("Power", -a["power_cost_usd"]),
        ("Depreciation", -a["depreciation_usd"]),
        ("Internal value (kept GPUs)", a["internal_value_usd"]),
        ("Operations (opex)", -a["opex_usd"]),
        ("Selling costs", -a["selling_cost_usd"]),
        ("Operating income", a["operating_income_usd"]),
        ("Tax", -a["tax_usd"]),
        ("Net income", a["net_income_usd"]),
    ]
    body = [[escape(k), fmt.usd(v)] for k, v in rows]
    body.append(["EPS uplift", fmt.usd(a["eps_uplift_usd"])])
    return table(["Line (run-rate year)", "USD"], body, {1})


def _cash(e: Evaluation) -> str:
    keys = ("revenue_usd", "operating_income_usd", "net_income_usd", "cash_flow_usd")
    rows = [["0", "", "", "", fmt.usd(e.investment_usd)]]
    rows += [[str(y["year"])] + [fmt.usd(y[k]) for k in keys] for y in e.years]
    cash_table = table(
        ["Year", "Revenue", "Operating income", "Net income", "Cash flow"], rows, {1, 2, 3, 4}
    )
    irr = fmt.pct(e.irr) if e.irr is not None else "n/a (nothing invested or never recovered)"
    payback = f"{e.payback_years:.2f} years" if e.payback_years is not None else "never"
    if e.investment_usd >= 0:
        payback = "n/a (nothing invested)"
    be = e.break_even_price_per_gpu_hour
    return (
        f"{cash_table}<p>NPV at {e.scenario.discount_rate:.1%}: <b>{fmt.usd(e.npv_usd)}</b> · "
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
        f"{img(charts.tornado_png(t), 'tornado')}{table(head, rows, {1, 2, 3, 4, 5})}"
    )


def _monte_carlo(mc: MonteCarloResult, base: dict[str, float]) -> str:
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
        f"{img(charts.histogram_png(mc, base=base), 'Monte Carlo distributions')}"
        f"{table(['Output', 'P5', 'P50', 'P95', 'Mean'], rows, {1, 2, 3, 4})}"
        f"<h3>Distributions drawn</h3>{table(['Input', 'Distribution', 'Source'], dists)}"
    )


def render_report(
    e: Evaluation,
    tornado: Tornado,
    mc: MonteCarloResult,
    full_basis: Evaluation | None = None,
    context: ReportContext | None = None,
) -> str:
    """The whole report as one HTML document (opening with "Sell, keep, or both?")."""
    s = e.scenario
    assumptions = [
        [escape(k), escape(fmt.value(v["value"])), escape(str(v["source"]))]
        for k, v in e.assumptions.items()
    ]
    parts = [
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>Gigawatt: "
        f"{escape(s.name)}</title><style>{STYLE}</style></head><body>",
        f"<h1>What is it worth? {escape(s.name)}</h1>",
        f"<p class=muted>{escape(s.description)}</p>" if s.description else "",
        _cards(e),
        sell_keep_section(e, context) if context is not None else "",
        "<h2>How the answer is built</h2>",
        _derivation(e),
        "<h2>P&amp;L of a run-rate year</h2>",
        _pnl(e),
        f"<h2>Over the asset life ({len(e.years)} years)</h2>",
        _cash(e),
        _comparison(full_basis) if full_basis is not None else "",
        _tornado(tornado),
        _monte_carlo(
            mc,
            {
                "revenue_usd": e["revenue_usd"],
                "eps_uplift_usd": e["eps_uplift_usd"],
                "npv_usd": e.npv_usd,
                "equity_value_usd": e.valuation.get("equity_value_usd", 0.0),
            },
        ),
        "<h2>Revenue by price and utilisation</h2>",
        img(charts.heatmap_png(e.resolved), "revenue heat map"),
        "<h2>Assumptions and sources</h2>",
        "<p class=muted>“estimate” marks Gigawatt's own assumptions; the rest cite their "
        "source.</p>",
        table(["Input", "Value", "Source"], assumptions),
        footer(context.command_line, context.generated)
        if context is not None
        else "<p class=muted>Generated by <code>gigawatt value</code>; see docs/economics.md.</p>",
        "</body></html>",
    ]
    return "\n".join(p for p in parts if p)
