"""Self-contained HTML report: inline SVG charts, no JavaScript, no external assets.

Written in pt-BR (``report.html``) and English (``report.en.html``); numbers, money (in
the store's currency) and dates are formatted by :mod:`recompra.formatting` (Babel).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from html import escape

import pandas as pd
from jinja2 import Environment
from markupsafe import Markup

from recompra.analytics.flows import AnalyticsResult
from recompra.formatting import (
    Locale,
    format_date,
    format_money,
    format_money_short,
    format_number,
    format_percent,
    format_period,
)

_TEXT: dict[Locale, dict[str, str]] = {
    "en": {
        "title": "Customer analytics",
        "as_of": "As of",
        "engine": "engine",
        "churn": "churned: no purchase in the last {days} days",
        "headline": "Headline KPIs",
        "grid": "RFM grid: customers by recency (rows) and frequency (columns) score",
        "segments": "Segments: share of customers and of net revenue",
        "cohorts": "Monthly cohorts: retention by months since first purchase",
        "trends": "Monthly KPI trends",
        "clusters": "Clusters",
        "customers": "customers",
        "revenue": "revenue",
        "description": "description",
        "k.customers": "Customers",
        "k.orders": "Orders",
        "k.revenue": "Net revenue",
        "k.aov": "Average order value",
        "k.repurchase": "Repurchase rate",
        "k.churn": "Churn rate",
        "k.clv": "Historic CLV",
        "k.csat": "CSAT",
        "k.nps": "NPS (proxy)",
        "k.upsell": "Upsell rate",
        "k.cross_sell": "Cross-sell rate",
        "k.active": "Active customers",
        "k.repurchase_cumulative": "Repurchase rate (cumulative)",
    },
    "pt-BR": {
        "title": "Análise de clientes",
        "as_of": "Data de referência",
        "engine": "motor",
        "churn": "churn: sem compra nos últimos {days} dias",
        "headline": "Indicadores principais",
        "grid": "Grade RFV: clientes por nota de recência (linhas) e frequência (colunas)",
        "segments": "Segmentos: participação em clientes e em receita líquida",
        "cohorts": "Coortes mensais: retenção por meses desde a primeira compra",
        "trends": "Tendência mensal dos indicadores",
        "clusters": "Grupos de clientes",
        "customers": "clientes",
        "revenue": "receita",
        "description": "descrição",
        "k.customers": "Clientes",
        "k.orders": "Pedidos",
        "k.revenue": "Receita líquida",
        "k.aov": "Ticket médio",
        "k.repurchase": "Taxa de recompra",
        "k.churn": "Taxa de churn",
        "k.clv": "CLV histórico",
        "k.csat": "CSAT",
        "k.nps": "NPS (avaliações)",
        "k.upsell": "Taxa de upsell",
        "k.cross_sell": "Taxa de venda cruzada",
        "k.active": "Clientes ativos",
        "k.repurchase_cumulative": "Taxa de recompra (acumulada)",
    },
}

_TEMPLATE = """<!doctype html>
<html lang="{{ locale }}">
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
<p>{{ t.as_of }}: {{ as_of }} · {{ t.engine }}: {{ summary.engine }} · {{ churn }}</p>
<h2>{{ t.headline }}</h2>
<div class="kpis">{% for label, value in headline %}
<div class="kpi">{{ label }}<b>{{ value }}</b></div>{% endfor %}</div>
<h2>{{ t.segments }}</h2>{{ segments_svg }}
<h2>{{ t.grid }}</h2>{{ grid_svg }}
<h2>{{ t.cohorts }}</h2>{{ cohort_svg }}
<h2>{{ t.trends }}</h2>{{ trends_svg }}
<h2>{{ t.clusters }}</h2>
<table><tr><th>#</th><th>{{ t.customers }}</th><th>{{ t.description }}</th></tr>
{% for c in clusters %}<tr><td>{{ c.cluster }}</td><td>{{ c.customers }}</td>
<td style="text-align:left">{{ c.description }}</td></tr>{% endfor %}
</table>
</body></html>
"""


def _nan_to_none(value: float | None) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def _pct(value: float | None, locale: Locale) -> str:
    return format_percent(_nan_to_none(value), locale)


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


def segments_svg(result: AnalyticsResult, locale: Locale = "pt-BR") -> Markup:
    """Horizontal bars per segment: share of customers and share of net revenue."""
    rows = result.segments.to_dict("records")
    label_w, bar_w, row_h = 190, 420, 30
    body = []
    for i, row in enumerate(rows):
        y = 10 + i * row_h
        name = row["name_pt"] if locale == "pt-BR" else row["name_en"]
        body.append(_text(0, y + 14, name))
        for j, (share, color) in enumerate(
            ((row["customer_share"], "#4a78b5"), (row["revenue_share"], "#e6a23c"))
        ):
            width = max(0.0, float(share)) * bar_w
            body.append(
                f'<rect x="{label_w}" y="{y + j * 11}" width="{width:.1f}" height="10" '
                f'fill="{color}"/>'
            )
            body.append(_text(label_w + width + 4, y + j * 11 + 9, _pct(share, locale), size=10))
    legend_y = 14 + len(rows) * row_h
    t = _TEXT[locale]
    body.append(f'<rect x="{label_w}" y="{legend_y}" width="10" height="10" fill="#4a78b5"/>')
    body.append(_text(label_w + 14, legend_y + 9, t["customers"]))
    body.append(f'<rect x="{label_w + 110}" y="{legend_y}" width="10" height="10" fill="#e6a23c"/>')
    body.append(_text(label_w + 124, legend_y + 9, t["revenue"]))
    return _svg(label_w + bar_w + 80, legend_y + 20, body)


def grid_svg(result: AnalyticsResult, locale: Locale = "pt-BR") -> Markup:
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
            body.append(
                _text(x + cell / 2, y + cell / 2 + 4, format_number(value, locale), anchor="middle")
            )
    for col, f in enumerate(range(1, 6)):
        body.append(_text(30 + col * cell + cell / 2, 22, f"F{f}", anchor="middle"))
    return _svg(30 + 5 * cell + 10, 30 + 5 * cell + 10, body)


def cohort_svg(result: AnalyticsResult, locale: Locale = "pt-BR", max_offset: int = 18) -> Markup:
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
        body.append(_text(0, y + 13, format_period(month.strftime("%Y-%m"), locale)))
        for k in range(max_offset + 1):
            if (month, k) not in cells:
                continue
            value = cells[(month, k)]
            fraction = 1.0 if k == 0 else value / top
            share = format_percent(value, locale, 2)
            body.append(
                f'<rect x="{left + k * cw}" y="{y}" width="{cw - 1}" height="{ch - 1}" '
                f'fill="{_color(fraction)}"><title>{share}</title></rect>'
            )
            if k > 0:
                body.append(_text(left + k * cw + cw / 2, y + 12, format_percent(value, locale),
                                  anchor="middle", size=8))  # fmt: skip
    return _svg(left + (max_offset + 1) * cw + 10, 24 + len(months) * ch, body)


def _line_chart(
    title: str, labels: list[str], values: list[float], fmt: Callable[[float], str]
) -> list[str]:
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
    body.append(_text(45, 24, fmt(high), anchor="end", size=9))
    body.append(_text(45, height - 18, fmt(low), anchor="end", size=9))
    if labels:
        body.append(_text(50, height - 4, labels[0], size=9))
        body.append(_text(width - 10, height - 4, labels[-1], anchor="end", size=9))
    return body


def trends_svg(result: AnalyticsResult, locale: Locale = "pt-BR") -> Markup:
    """Small multiples of monthly KPIs."""
    monthly = result.kpis_by_period[result.kpis_by_period.granularity == "month"]
    labels = [format_period(str(p), locale) for p in monthly.period]
    t = _TEXT[locale]
    currency = result.summary.get("currency") or "BRL"

    def money(v: float) -> str:
        return format_money_short(v, locale, currency)

    def count(v: float) -> str:
        return format_number(v, locale)

    def rate(v: float) -> str:
        return format_percent(v, locale)

    def points(v: float) -> str:
        return format_number(v, locale, 1)

    charts: list[tuple[str, str, Callable[[float], str]]] = [
        (t["k.active"], "active_customers", count),
        (t["k.revenue"], "revenue_minor", money),
        (t["k.aov"], "average_order_value_minor", money),
        (t["k.repurchase_cumulative"], "repurchase_rate", rate),
        (t["k.churn"], "churn_rate", rate),
        (t["k.nps"], "nps", points),
    ]
    body: list[str] = []
    for i, (title, column, fmt) in enumerate(charts):
        values = [float(v) for v in pd.to_numeric(monthly[column]).fillna(float("nan"))]
        x, y = (i % 2) * 520, (i // 2) * 170
        body.append(f'<g transform="translate({x},{y})">')
        body.extend(_line_chart(title, labels, values, fmt))
        body.append("</g>")
    return _svg(1040, 170 * math.ceil(len(charts) / 2), body)


def render_report(result: AnalyticsResult, *, locale: Locale = "pt-BR") -> str:
    """Render the offline HTML report in ``locale`` (money in the store's currency)."""
    t = _TEXT[locale]
    s = result.summary
    currency = s.get("currency") or "BRL"

    def money(key: str) -> str:
        value = _nan_to_none(s[key])
        return format_money(None if value is None else round(value), locale, currency)

    headline = [
        (t["k.customers"], format_number(s["customers_total"], locale)),
        (t["k.orders"], format_number(s["orders_total"], locale)),
        (t["k.revenue"], money("revenue_minor")),
        (t["k.aov"], money("average_order_value_minor")),
        (t["k.repurchase"], _pct(s["repurchase_rate"], locale)),
        (t["k.churn"], _pct(s["churn_rate"], locale)),
        (t["k.clv"], money("historic_clv_minor")),
        (t["k.csat"], _pct(s["csat"], locale)),
        (t["k.nps"], format_number(_nan_to_none(s["nps"]), locale, 1)),
        (t["k.upsell"], _pct(s["upsell_rate"], locale)),
        (t["k.cross_sell"], _pct(s["cross_sell_rate"], locale)),
    ]
    clusters = [
        {
            "cluster": int(c["cluster"]),
            "customers": format_number(int(c["customers"]), locale),
            "description": c["description_pt"] if locale == "pt-BR" else c["description_en"],
        }
        for c in result.clusters.to_dict("records")
    ]
    env = Environment(autoescape=True)
    template = env.from_string(_TEMPLATE)
    return template.render(
        locale=locale,
        t=t,
        summary=s,
        as_of=format_date(result.as_of, locale),
        churn=t["churn"].format(days=result.churn_days),
        headline=headline,
        segments_svg=segments_svg(result, locale),
        grid_svg=grid_svg(result, locale),
        cohort_svg=cohort_svg(result, locale),
        trends_svg=trends_svg(result, locale),
        clusters=clusters,
    )
