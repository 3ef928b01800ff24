"""A self-contained HTML report of a twin run: summary, per-tier tables, charts inlined (base64)."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from html import escape
from typing import Any

from gigawatt.sim.charts import power_png, queue_cdf_png, revenue_png, utilisation_png
from gigawatt.sim.metrics import SimResult

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px}
td.n{text-align:right;font-variant-numeric:tabular-nums}img{max-width:100%}
"""


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{escape(alt)}" src="data:image/png;base64,{data}">'


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.4f}" if abs(v) < 10 else f"{v:,.1f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def _table(head: list[str], rows: list[list[Any]]) -> str:
    out = ["<table><tr>", *(f"<th>{escape(h)}</th>" for h in head), "</tr>"]
    for row in rows:
        cells = (
            f'<td class="n">{escape(_fmt(c))}</td>'
            if isinstance(c, int | float)
            else f"<td>{escape(str(c))}</td>"
            for c in row
        )
        out += ["<tr>", *cells, "</tr>"]
    out.append("</table>")
    return "".join(out)


def _window_text(s: Mapping[str, Any]) -> str:
    warmup_h = float(s.get("warmup_s", 0.0)) / 3600
    measured_h = float(s.get("measured_s", 0.0)) / 3600
    return (
        f"Figures below cover the measured window: {measured_h:,.2f} h after a warm-up of "
        f"{warmup_h:,.2f} h (rule: {s.get('warmup', 'none')}); the chart shows the whole run."
    )


def render_report(r: SimResult, title: str = "Gigawatt digital twin") -> str:
    """The report as one HTML string (no external resources)."""
    s = r.summary
    scalars = [[k, v] for k, v in s.items() if isinstance(v, int | float | str)]
    tiers = [
        [
            name,
            t["jobs"],
            t["jobs_completed"],
            s["gpu_hours_by_tier"][name],
            s["revenue_usd_by_tier"].get(name, s["internal_showback_usd"]),
            t["queue_s"]["mean"],
            t["queue_s"]["median"],
            t["queue_s"]["p95"],
            t["queue_s"]["p99"],
            t["jct_s"]["mean"],
            t["preemptions"],
        ]
        for name, t in s["by_tier"].items()
    ]
    power = [[name, *p.values()] for name, p in s["power_by_site"].items()]
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title>",
        f"<style>{_STYLE}</style></head><body><h1>{escape(title)}</h1>",
        "<h2>Utilisation by tier</h2>",
        f"<p>{escape(_window_text(s))}</p>",
        _img(utilisation_png(r), "utilisation stacked by tier over time"),
        "<h2>Per tier</h2>",
        _table(
            [
                "tier",
                "jobs",
                "completed",
                "GPU-hours",
                "revenue USD (internal: showback)",
                "queue mean s",
                "median s",
                "P95 s",
                "P99 s",
                "JCT mean s",
                "preemptions",
            ],
            tiers,
        ),
        "<h2>Queueing delay</h2>",
        _img(queue_cdf_png(r), "queueing delay CDFs by tier"),
        "<h2>Revenue by tier</h2>",
        _img(revenue_png(r), "revenue by tier"),
        "<h2>Power per site</h2>",
        _table(["site", "mean IT MW", "peak IT MW", "cap IT MW", "mean facility MW"], power),
        _img(power_png(r), "IT power per site over time"),
        "<h2>Summary</h2>",
        _table(["key", "value"], scalars),
        "</body></html>",
    ]
    return "\n".join(parts)
