"""Self-contained HTML report: inline SVG charts, no JavaScript, no external assets."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

import pandas as pd
from jinja2 import Environment
from markupsafe import Markup

from recompra.analytics.flows import AnalyticsResult

_TEXT = {
    "en": {
        "title": "Customer analytics",
        "as_of": "As of",
        "headline": "Headline KPIs",
        "grid": "RFM grid: customers by recency (rows) and frequency (columns) score",
        "segments": "Segments: share of customers and of net revenue",
        "cohorts": "Monthly cohorts: retention by months since first purchase",
        "trends": "Monthly KPI trends",
        "clusters": "Clusters",
        "customers": "customers",
        "revenue": "revenue",
    },
    "pt": {
        "title": "Análise de clientes",
        "as_of": "Data de referência",
        "headline": "KPIs principais",
        "grid": "Grade RFV: clientes por nota de recência (linhas) e frequência (colunas)",
        "segments": "Segmentos: participação em clientes e em receita líquida",
        "cohorts": "Coortes mensais: retenção por meses desde a primeira compra",
        "trends": "Tendência mensal dos KPIs",
        "clusters": "Clusters",
        "customers": "clientes",
        "revenue": "receita",
    },
}

_TEMPLATE = """<!doctype html>
<html lang="{{ 'pt-BR' if lang == 'pt' else 'en' }}">
<head><meta charset="utf-8"><title>{{ t.title }}</title>
<style>
body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}
h1{margin-bottom:0}h2{margin-top:32px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:13px}
td,th{padding:4px 8px;border-bottom:1px solid #eee;text-align:right}
td:first-child,th:first-child{text-align:left}.kpis{display:flex;flex-wrap:wrap;gap:12px}
.kpi{border:1px solid #ddd;border-radius:6px;padding:8px 12px;min-width:150px}
.kpi b{display:block;font-size:20px}svg text{font-family:system-ui,sans-serif}
</style></head>
<body>
<h1>{{ t.title }}</h1>
<p>{{ t.as_of }}: {{ summary.as_of }} · engine: {{ summary.engine }} ·
{{ summary.churn_definition }}</p>
<h2>{{ t.headline }}</h2>
<div class="kpis">{% for label, value in headline %}
<div class="kpi">{{ label }}<b>{{ value }}</b></div>{% endfor %}</div>
<h2>{{ t.segments }}</h2>{{ segments_svg }}
<h2>{{ t.grid }}</h2>{{ grid_svg }}
<h2>{{ t.cohorts }}</h2>{{ cohort_svg }}
<h2>{{ t.trends }}</h2>{{ trends_svg }}
<h2>{{ t.clusters }}</h2>
<table><tr><th>#</th><th>{{ t.customers }}</th><th>description</th></tr>
{% for c in clusters %}<tr><td>{{ c.cluster }}</td><td>{{ c.customers }}</td>
<td style="text-align:left">{{ c.description }}</td></tr>{% endfor %}
</table>
</body></html>
"""


def _fmt_money(minor: float | None) -> str:
    if minor is None or (isinstance(minor, float) and math.isnan(minor)):
        return "–"
    return f"{minor / 100:,.2f}"


def _fmt_pct(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{100 * value:.1f}%"


def _color(fraction: float) -> str:
    """White to dark blue for 0..1."""
    f = max(0.0, min(1.0, fraction))
    r, g, b = (int(255 - f * (255 - c)) for c in (8, 69, 148))
    return f"rgb({r},{g},{b})"


def _svg(width: int, height: int, body: Sequence[str]) -> Markup:
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img">' + "".join(body) + "</svg>"
    )


def _text(x: float, y: float, content: str, *, anchor: str = "start", size: int = 11) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}">'
        f"{escape(content)}</text>"
    )


def segments_svg(result: AnalyticsResult, lang: str = "en") -> Markup:
    """Horizontal bars per segment: share of customers and share of net revenue."""
    rows = result.segments.to_dict("records")
    label_w, bar_w, row_h = 190, 420, 30
    body = []
    for i, row in enumerate(rows):
        y = 10 + i * row_h
        name = row["name_pt"] if lang == "pt" else row["name_en"]
        body.append(_text(0, y + 14, name))
        for j, (share, color) in enumerate(
            ((row["customer_share"], "#4a78b5"), (row["revenue_share"], "#e6a23c"))
        ):
            width = max(0.0, float(share)) * bar_w
            body.append(
                f'<rect x="{label_w}" y="{y + j * 11}" width="{width:.1f}" height="10" '
                f'fill="{color}"/>'
            )
            body.append(_text(label_w + width + 4, y + j * 11 + 9, _fmt_pct(share), size=10))
    legend_y = 14 + len(rows) * row_h
    t = _TEXT[lang]
    body.append(f'<rect x="{label_w}" y="{legend_y}" width="10" height="10" fill="#4a78b5"/>')
    body.append(_text(label_w + 14, legend_y + 9, t["customers"]))
    body.append(f'<rect x="{label_w + 110}" y="{legend_y}" width="10" height="10" fill="#e6a23c"/>')
    body.append(_text(label_w + 124, legend_y + 9, t["revenue"]))
    return _svg(label_w + bar_w + 80, legend_y + 20, body)


def grid_svg(result: AnalyticsResult) -> Markup:
    """5x5 heatmap of customers by R (rows, 5 at the top) and F score (columns)."""
    counts = {(int(r["r_score"]), int(r["f_score"])): int(r["customers"]) for r in
              result.rfm_grid.to_dict("records")}  # fmt: skip
    top = max(counts.values(), default=1)
    cell = 64
    body = []
    for row, r in enumerate(range(5, 0, -1)):
        body.append(_text(20, 40 + row * cell + cell / 2, f"R{r}", anchor="end"))
        for col, f in enumerate(range(1, 6)):
            value = counts.get((r, f), 0)
            x, y = 30 + col * cell, 30 + row * cell
            fraction = math.log1p(value) / math.log1p(top) if top else 0.0
            body.append(
                f'<rect x="{x}" y="{y}" width="{cell - 2}" height="{cell - 2}" '
                f'fill="{_color(fraction)}"/>'
            )
            body.append(_text(x + cell / 2, y + cell / 2 + 4, f"{value:,}", anchor="middle"))
    for col, f in enumerate(range(1, 6)):
        body.append(_text(30 + col * cell + cell / 2, 22, f"F{f}", anchor="middle"))
    return _svg(30 + 5 * cell + 10, 30 + 5 * cell + 10, body)


def cohort_svg(result: AnalyticsResult, max_offset: int = 18) -> Markup:
    """Cohort heatmap: retention rate per cohort month and months since first purchase."""
    cohorts = result.cohorts[result.cohorts.months_since_first <= max_offset]
    months = sorted(set(cohorts.cohort_month))
    cells = {
        (r["cohort_month"], int(r["months_since_first"])): float(r["retention_rate"])
        for r in cohorts.to_dict("records")
    }
    later = [v for (_, k), v in cells.items() if k > 0]
    top = max(later, default=1.0) or 1.0
    cw, ch, left = 40, 18, 80
    body = [
        _text(left + k * cw + cw / 2, 12, str(k), anchor="middle") for k in range(max_offset + 1)
    ]
    for i, month in enumerate(months):
        y = 18 + i * ch
        body.append(_text(0, y + 13, month.strftime("%Y-%m")))
        for k in range(max_offset + 1):
            if (month, k) not in cells:
                continue
            value = cells[(month, k)]
            fraction = 1.0 if k == 0 else value / top
            body.append(
                f'<rect x="{left + k * cw}" y="{y}" width="{cw - 1}" height="{ch - 1}" '
                f'fill="{_color(fraction)}"><title>{value:.2%}</title></rect>'
            )
            if k > 0:
                body.append(_text(left + k * cw + cw / 2, y + 12, f"{value:.1%}", anchor="middle",
                                  size=8))  # fmt: skip
    return _svg(left + (max_offset + 1) * cw + 10, 24 + len(months) * ch, body)


def _line_chart(title: str, labels: list[str], values: list[float], fmt: str) -> list[str]:
    width, height = 500, 150
    clean = [v for v in values if not math.isnan(v)]
    low, high = (min(clean), max(clean)) if clean else (0.0, 1.0)
    span = (high - low) or 1.0
    step = (width - 60) / max(1, len(values) - 1)
    points = [
        f"{50 + i * step:.1f},{20 + (height - 40) * (1 - (v - low) / span):.1f}"
        for i, v in enumerate(values)
        if not math.isnan(v)
    ]
    body = [_text(0, 12, title, size=12)]
    body.append(
        f'<polyline fill="none" stroke="#4a78b5" stroke-width="2" points="{" ".join(points)}"/>'
    )
    body.append(_text(45, 24, format(high, fmt), anchor="end", size=9))
    body.append(_text(45, height - 18, format(low, fmt), anchor="end", size=9))
    if labels:
        body.append(_text(50, height - 4, labels[0], size=9))
        body.append(_text(width - 10, height - 4, labels[-1], anchor="end", size=9))
    return body


def trends_svg(result: AnalyticsResult) -> Markup:
    """Small multiples of monthly KPIs."""
    monthly = result.kpis_by_period[result.kpis_by_period.granularity == "month"]
    labels = [str(p) for p in monthly.period]
    charts = [
        ("Active customers", "active_customers", ",.0f", 1.0),
        ("Net revenue", "revenue_minor", ",.0f", 0.01),
        ("Average order value", "average_order_value_minor", ",.2f", 0.01),
        ("Repurchase rate (cumulative)", "repurchase_rate", ".2%", 1.0),
        ("Churn rate", "churn_rate", ".2%", 1.0),
        ("NPS (proxy)", "nps", ".1f", 1.0),
    ]
    body: list[str] = []
    for i, (title, column, fmt, scale) in enumerate(charts):
        values = [float(v) * scale for v in pd.to_numeric(monthly[column]).fillna(float("nan"))]
        x, y = (i % 2) * 520, (i // 2) * 170
        body.append(f'<g transform="translate({x},{y})">')
        body.extend(_line_chart(title, labels, values, fmt))
        body.append("</g>")
    return _svg(1040, 170 * math.ceil(len(charts) / 2), body)


def render_report(result: AnalyticsResult, *, lang: str = "en") -> str:
    """Render the offline HTML report (``lang`` ``"en"`` or ``"pt"``)."""
    t = _TEXT["pt" if lang == "pt" else "en"]
    s = result.summary
    headline = [
        ("Customers", f"{s['customers_total']:,}"),
        ("Orders", f"{s['orders_total']:,}"),
        ("Net revenue", _fmt_money(s["revenue_minor"])),
        ("Average order value", _fmt_money(s["average_order_value_minor"])),
        ("Repurchase rate", _fmt_pct(s["repurchase_rate"])),
        ("Churn rate", _fmt_pct(s["churn_rate"])),
        ("Historic CLV", _fmt_money(s["historic_clv_minor"])),
        ("CSAT", _fmt_pct(s["csat"])),
        ("NPS (proxy)", "–" if s["nps"] is None else f"{s['nps']:.1f}"),
        ("Upsell rate", _fmt_pct(s["upsell_rate"])),
        ("Cross-sell rate", _fmt_pct(s["cross_sell_rate"])),
    ]
    clusters = [
        {
            "cluster": int(c["cluster"]),
            "customers": f"{int(c['customers']):,}",
            "description": c["description_pt"] if lang == "pt" else c["description_en"],
        }
        for c in result.clusters.to_dict("records")
    ]
    env = Environment(autoescape=True)
    template = env.from_string(_TEMPLATE)
    return template.render(
        lang=lang,
        t=t,
        summary=s,
        headline=headline,
        segments_svg=segments_svg(result, lang),
        grid_svg=grid_svg(result),
        cohort_svg=cohort_svg(result),
        trends_svg=trends_svg(result),
        clusters=clusters,
    )
