"""The overview: headline KPIs (over a date range, against the range before) and monthly
trends, from the brand's analytics outputs."""

from __future__ import annotations

import calendar
from datetime import date

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from recompra.reads import kpis as kq
from recompra.reads.kpis import NotAnalysed
from recompra.reads.models import KpiPeriod
from recompra.web import charts
from recompra.web.context import build_page, read_unit
from recompra.web.filters import DATE_INPUT_PATTERN, RANGE_PRESETS, date_range
from recompra.web.kpi_cards import history_cards, period_cards
from recompra.web.views.common import render

router = APIRouter(include_in_schema=False)


def split_partial_month(
    monthly: list[KpiPeriod], as_of: date
) -> tuple[list[KpiPeriod], KpiPeriod | None]:
    """The complete months, and the as-of month if the data stop before its last day.

    A month cut short looks like a crash in revenue (and a jump in retention, whose
    lapses are counted only up to the as-of date), so the trends leave it out and the
    page says so.
    """
    if not monthly:
        return monthly, None
    last = monthly[-1]
    month_end = calendar.monthrange(as_of.year, as_of.month)[1]
    if last.period == f"{as_of.year:04d}-{as_of.month:02d}" and as_of.day < month_end:
        return monthly[:-1], last
    return monthly, None


@router.get("/dashboard", response_class=HTMLResponse)
def overview(request: Request) -> HTMLResponse:
    """Headline KPIs (all history, or a range against the one before) and monthly trends."""
    with read_unit(request) as session:
        page = build_page(request, session, "overview")
        home = request.app.state.settings.home
        try:
            summary = kq.kpi_summary(
                session, home=home, brand_id=page.brand.id, currency=page.brand.currency
            )
            monthly = kq.kpis_by_period(
                session, home=home, brand_id=page.brand.id, granularity="month"
            )
        except NotAnalysed:
            return render(page, "overview.html", summary=None)
        chosen = date_range(request.query_params, summary.analytics_as_of)
        comparison, range_problem = None, None
        if chosen.start is not None and chosen.end is not None:
            try:
                comparison = kq.kpis_for_range(
                    session, home=home, brand_id=page.brand.id, start=chosen.start, end=chosen.end
                )
            except NotAnalysed:
                range_problem = "range.not_available"
            except ValueError:
                range_problem = "range.after_as_of"
    if comparison is not None:
        cards = period_cards(page, comparison.current, comparison.previous)
    else:
        cards = history_cards(page, summary)
    complete, partial = split_partial_month(monthly, summary.analytics_as_of)
    labels = [page.period(k.period) for k in complete]
    trends = [
        (
            "revenue",
            charts.line_chart(
                labels,
                [k.revenue_minor for k in complete],
                label=page.t("trend.revenue"),
                fmt=lambda v: page.money(round(v)),
                axis_fmt=page.money_short,
            ),
            [page.money(k.revenue_minor) for k in complete],
        ),
        (
            "customers",
            charts.bar_chart(
                labels,
                [k.customers for k in complete],
                label=page.t("trend.customers"),
                fmt=lambda v: page.number(v),
                integer=True,
            ),
            [page.number(k.customers) for k in complete],
        ),
        (
            "retention",
            charts.line_chart(
                labels,
                [k.retention_rate for k in complete],
                label=page.t("trend.retention"),
                fmt=lambda v: page.percent(v, 0),
            ),
            [page.percent(k.retention_rate, 0) for k in complete],
        ),
    ]
    return render(
        page,
        "overview.html",
        summary=summary,
        labels=labels,
        trends=trends,
        partial=partial,
        cards=cards,
        chosen=chosen,
        comparison=comparison,
        range_problem=range_problem,
        presets=RANGE_PRESETS,
        date_pattern=DATE_INPUT_PATTERN,
    )
