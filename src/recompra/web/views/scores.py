"""Pages over the customer scores and segments: RFM grid, cohorts, CLV and churn risk."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from recompra.reads import kpis as kq
from recompra.reads import scores as sq
from recompra.reads.distributions import clv_log_histogram
from recompra.reads.kpis import NotAnalysed
from recompra.reads.models import ScoredCustomer
from recompra.web import charts
from recompra.web.context import Page, build_page, read_unit
from recompra.web.filters import FILTER_NAMES
from recompra.web.lists import ListName, list_filter, list_rows
from recompra.web.views.common import render

router = APIRouter(include_in_schema=False)

#: Rows of the ranked lists (CLV top, churn list); the exports carry every row.
RANKED_ROWS = 50


def _ranked(session: Session, page: Page, name: ListName) -> list[ScoredCustomer]:
    """The first :data:`RANKED_ROWS` rows of the ranked list ``name`` under the shared
    filters, as its export has them (none before any scoring)."""
    where = list_filter(page.apply(*FILTER_NAMES), q=None, sort=None, r=None, f=None)
    rows = list_rows(
        session, brand_id=page.brand.id, name=name, where=where, limit=RANKED_ROWS, offset=0
    )
    return rows.scored or []


@router.get("/dashboard/rfm", response_class=HTMLResponse)
def rfm(request: Request) -> HTMLResponse:
    """The R x F grid (scores) and the segment table (analytics), both linking to customers."""
    with read_unit(request) as session:
        page = build_page(request, session, "rfm")
        scored_as_of = sq.latest_as_of(session, brand_id=page.brand.id)
        cells = (
            sq.rfm_grid(session, brand_id=page.brand.id, as_of=scored_as_of) if scored_as_of else []
        )
        try:
            _, segments = kq.segments(
                session, home=request.app.state.settings.home, brand_id=page.brand.id
            )
        except NotAnalysed:
            segments = None
    grid = {(c.r, c.f): c for c in cells}
    top = max((c.customers for c in cells), default=1)
    return render(
        page,
        "rfm.html",
        as_of=scored_as_of,
        grid=grid,
        top=top,
        segments=segments,
        heat=charts.heat_color,
    )


@router.get("/dashboard/cohorts", response_class=HTMLResponse)
def cohorts(request: Request) -> HTMLResponse:
    """The monthly cohort retention heatmap."""
    with read_unit(request) as session:
        page = build_page(request, session, "cohorts")
        try:
            rows = kq.cohorts(session, home=request.app.state.settings.home, brand_id=page.brand.id)
        except NotAnalysed:
            return render(page, "cohorts.html", rows=None)
    width = max((len(r.retention) for r in rows), default=0)
    return render(page, "cohorts.html", rows=rows, width=width, heat=charts.heat_color)


@router.get("/dashboard/clv", response_class=HTMLResponse)
def clv(request: Request) -> HTMLResponse:
    """Predicted CLV distribution (1-2-5 bins) and the most valuable customers."""
    with read_unit(request) as session:
        page = build_page(request, session, "clv")
        as_of = sq.latest_as_of(session, brand_id=page.brand.id)
        buckets = clv_log_histogram(session, brand_id=page.brand.id, as_of=as_of) if as_of else []
        top = _ranked(session, page, "clv")
    labels = [
        page.t("clv.bin", low=page.money_short(b.low_minor), high=page.money_short(b.high_minor))
        for b in buckets
    ]
    chart = charts.bar_chart(
        labels,
        [b.customers for b in buckets],
        label=page.t("clv.distribution"),
        fmt=lambda v: page.number(v),
        integer=True,
        tick_labels=[page.money_short(b.low_minor) for b in buckets],
    )
    return render(
        page,
        "clv.html",
        as_of=as_of,
        buckets=buckets,
        labels=labels,
        counts=[page.number(b.customers) for b in buckets],
        chart=chart,
        top=top,
    )


@router.get("/dashboard/churn", response_class=HTMLResponse)
def churn(request: Request) -> HTMLResponse:
    """Customers ranked by churn risk."""
    with read_unit(request) as session:
        page = build_page(request, session, "churn")
        as_of = sq.latest_as_of(session, brand_id=page.brand.id)
        items = _ranked(session, page, "churn")
    return render(page, "churn.html", as_of=as_of, items=items)
