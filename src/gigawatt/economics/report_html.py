"""Small HTML helpers shared by the economics reports: style, inlined PNGs, tables."""

from __future__ import annotations

import base64
from html import escape

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2rem auto;
max-width:72rem;color:#222;line-height:1.45;padding:0 1rem}
h1{margin-bottom:.2rem}h2{margin-top:2.2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.6rem 0}td,th{padding:.25rem .7rem;border-bottom:1px solid
#eee;text-align:left;vertical-align:top}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.cards{display:flex;flex-wrap:wrap;gap:1rem}.card{border:1px solid #ddd;border-radius:.4rem;
padding:.6rem 1rem;min-width:9rem}.card b{display:block;font-size:1.4rem}.muted{color:#666}
img{max-width:100%}code{background:#f4f4f4;padding:0 .2rem}
"""


def img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{escape(alt)}" src="data:image/png;base64,{data}">'


def table(head: list[str], rows: list[list[str]], numeric: set[int] | None = None) -> str:
    nums = numeric or set()

    def cls(i: int) -> str:
        return ' class="n"' if i in nums else ""

    out = ["<table><tr>"] + [f"<th{cls(i)}>{escape(h)}</th>" for i, h in enumerate(head)]
    out.append("</tr>")
    for row in rows:
        out.append("<tr>" + "".join(f"<td{cls(i)}>{c}</td>" for i, c in enumerate(row)) + "</tr>")
    out.append("</table>")
    return "".join(out)
