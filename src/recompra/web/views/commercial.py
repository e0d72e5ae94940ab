"""The commercial pages, one per job of a sales team: pipeline (kanban), funnel analytics,
won-deal forecast, lead scores, CAC and spend, OKRs and maturity. Every figure comes from
:mod:`recompra.reads.commercial`, as in the API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from recompra.commercial.forecast import MODELS
from recompra.commercial.funnel_sql import DIMENSIONS
from recompra.reads import commercial as reads
from recompra.web.context import build_page, read_unit
from recompra.web.views.common import render

router = APIRouter(include_in_schema=False)

#: Below this cross-validated AUC the lead page warns that the score barely ranks leads:
#: 0.5 is chance, and Hosmer & Lemeshow (2000, §5.2.4) already call 0.7 only "acceptable".
WEAK_AUC = 0.6


def _history_by_month(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Stored back-test rows pivoted to one row per month with each model's forecast."""
    months: dict[str, dict[str, Any]] = {}
    for row in rows:
        month = months.setdefault(row["month"], {"month": row["month"], "actual": row["actual"]})
        month[row["model"]] = row["forecast"]
    return list(months.values())


@router.get("/dashboard/commercial", response_class=HTMLResponse)
def pipeline(request: Request) -> HTMLResponse:
    """The kanban: count and Σ amount per stage, the latest deals of each, the weighted total."""
    with read_unit(request) as session:
        page = build_page(request, session, "commercial")
        kanban = reads.kanban_report(session, brand_id=page.brand.id)
        cards = reads.deal_cards(session, brand_id=page.brand.id)
        forecast = reads.forecast_report(session, brand_id=page.brand.id)
    return render(
        page,
        "commercial_pipeline.html",
        kanban=kanban,
        cards=cards,
        weighted=forecast["weighted_pipeline"],
        pt=page.locale == "pt-BR",
    )


@router.get("/dashboard/commercial/funnel", response_class=HTMLResponse)
def funnel(request: Request, by: str = "channel") -> HTMLResponse:
    """Conversion by a chosen dimension, time to close, shrunk ranking, rep concentration."""
    chosen = by if by in DIMENSIONS else "channel"
    with read_unit(request) as session:
        page = build_page(request, session, "commercial_funnel")
        report = reads.funnel_report(session, brand_id=page.brand.id, by=chosen)
    ranked = {r["group"]: r for r in report.get("ranking", {}).get("groups", [])}
    return render(
        page,
        "commercial_funnel.html",
        funnel=report,
        ranked=ranked,
        dimensions=DIMENSIONS,
        by=chosen,
    )


@router.get("/dashboard/commercial/forecast", response_class=HTMLResponse)
def forecast(request: Request) -> HTMLResponse:
    """Next month's won deals, the weighted pipeline and the stored forecast vs actual."""
    with read_unit(request) as session:
        page = build_page(request, session, "commercial_forecast")
        report = reads.forecast_report(session, brand_id=page.brand.id)
    return render(
        page,
        "commercial_forecast.html",
        forecast=report,
        history=_history_by_month(report.get("history", [])),
        models=MODELS,
    )


@router.get("/dashboard/commercial/leads", response_class=HTMLResponse)
def leads(request: Request) -> HTMLResponse:
    """The lead-score fits (version, model, AUC, lift) and the best-scored leads."""
    with read_unit(request) as session:
        page = build_page(request, session, "commercial_leads")
        report = reads.lead_fits_report(session, brand_id=page.brand.id)
    # The read answers JSON-ready ISO strings; the page formats dates the locale's way.
    for fit in report["fits"]:
        fit["fitted_at"] = datetime.fromisoformat(fit["fitted_at"])
    for lead in report["top_leads"]:
        lead["first_contact_on"] = date.fromisoformat(lead["first_contact_on"])
    return render(page, "commercial_leads.html", report=report, weak_auc=WEAK_AUC)


@router.get("/dashboard/commercial/cac", response_class=HTMLResponse)
def cac(request: Request) -> HTMLResponse:
    """B2C and B2B CAC, or what is missing to compute them."""
    with read_unit(request) as session:
        page = build_page(request, session, "commercial_cac")
        report = reads.cac_report(session, brand_id=page.brand.id)
    return render(page, "commercial_cac.html", cac=report)


@router.get("/dashboard/commercial/okrs", response_class=HTMLResponse)
def okrs(request: Request) -> HTMLResponse:
    """OKRs judged on their live KPIs and the evidence-capped maturity assessment."""
    with read_unit(request) as session:
        page = build_page(request, session, "commercial_okrs")
        objectives = reads.okr_report(session, brand_id=page.brand.id)
        maturity = reads.maturity_report(session, brand_id=page.brand.id)
    return render(
        page,
        "commercial_okrs.html",
        okrs=objectives,
        maturity=maturity,
        pt=page.locale == "pt-BR",
    )
