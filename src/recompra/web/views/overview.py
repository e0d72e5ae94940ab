"""The overview: headline KPIs and monthly trends, from the brand's analytics outputs."""

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
    """Headline KPIs and monthly trends (complete months only)."""
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
    )
