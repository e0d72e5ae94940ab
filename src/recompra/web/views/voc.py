"""The voice-of-the-customer page: NPS (proxy) and CSAT tiles with their CIs, the margin
table, monthly trend, on-time vs late delivery and comment topics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from recompra.voc.delivery import LATE, ON_TIME
from recompra.voc.scores import NpsEstimate
from recompra.voc.service import voc_overview
from recompra.web import charts
from recompra.web.context import Page, build_page, read_unit
from recompra.web.views.common import render

router = APIRouter(include_in_schema=False)

#: States shown in the delivery table (the largest by reviews).
STATE_ROWS = 12


def nps_text(page: Page, estimate: NpsEstimate) -> dict[str, str]:
    """An NPS and its interval formatted for the page (``–`` when there is no answer)."""
    if estimate.score is None or estimate.ci_low is None or estimate.ci_high is None:
        return {"score": "–", "ci": "–", "range": "–"}
    low, high = page.number(estimate.ci_low, 1), page.number(estimate.ci_high, 1)
    return {
        "score": page.number(estimate.score, 1),
        "ci": page.t("voc.ci", low=low, high=high),
        "range": page.t("voc.range", low=low, high=high),
    }


def _stars(stars: list[int]) -> str:
    if not stars:
        return "–"
    return str(stars[0]) if len(stars) == 1 else f"{stars[0]}–{stars[-1]}"


@router.get("/dashboard/voc", response_class=HTMLResponse)
def voc(request: Request) -> HTMLResponse:
    """NPS proxy and CSAT with CIs, margins, trend, delivery and topics."""
    with read_unit(request) as session:
        page = build_page(request, session, "voc")
        overview = voc_overview(session, brand_id=page.brand.id)
    report = overview.nps
    if report.overall.nps.n == 0:
        return render(page, "voc.html", report=None)
    months = report.groups
    labels = [page.period(g.key) for g in months]
    csat_chart = charts.line_chart(
        labels,
        [g.csat.share for g in months],
        label=page.t("voc.csat_trend"),
        fmt=lambda v: page.percent(v, 0),
    )
    delivery = overview.delivery
    gap = delivery.on_time_vs_late
    return render(
        page,
        "voc.html",
        report=report,
        overall=nps_text(page, report.overall.nps),
        surveys=overview.surveys,
        surveys_text=None if overview.surveys is None else nps_text(page, overview.surveys),
        mapping={kind: _stars(stars) for kind, stars in report.mapping.items()},
        months=[(g, page.period(g.key), nps_text(page, g.nps)) for g in months],
        labels=labels,
        csat_chart=csat_chart,
        csat_values=[page.percent(g.csat.share, 1) for g in months],
        delivery=[(s, nps_text(page, s.nps)) for s in delivery.statuses],
        gap=gap,
        states=[
            (row, nps_text(page, row.on_time.nps), nps_text(page, row.late.nps))
            for row in delivery.by_state[:STATE_ROWS]
        ],
        on_time_key=ON_TIME,
        late_key=LATE,
        topics=overview.topics,
    )
