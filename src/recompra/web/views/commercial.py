"""The commercial page: lead funnel, kanban, won-deal forecast vs actual, CAC, OKRs and
the maturity assessment, all from :mod:`recompra.reads.commercial` (as the API)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from recompra.commercial.forecast import MODELS
from recompra.reads import commercial as reads
from recompra.web.context import build_page, read_unit
from recompra.web.views.common import render

router = APIRouter(include_in_schema=False)


def _history_by_month(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Stored back-test rows pivoted to one row per month with each model's forecast."""
    months: dict[str, dict[str, Any]] = {}
    for row in rows:
        month = months.setdefault(row["month"], {"month": row["month"], "actual": row["actual"]})
        month[row["model"]] = row["forecast"]
    return list(months.values())


@router.get("/dashboard/commercial", response_class=HTMLResponse)
def commercial(request: Request) -> HTMLResponse:
    """Funnel, kanban, forecast, CAC, OKRs and maturity of the brand."""
    with read_unit(request) as session:
        page = build_page(request, session, "commercial")
        brand_id = page.brand.id
        funnel = reads.funnel_report(session, brand_id=brand_id, by="channel")
        kanban = reads.kanban_report(session, brand_id=brand_id)
        forecast = reads.forecast_report(session, brand_id=brand_id)
        cac = reads.cac_report(session, brand_id=brand_id)
        okrs = reads.okr_report(session, brand_id=brand_id)
        maturity = reads.maturity_report(session, brand_id=brand_id)
    ranked = {r["group"]: r for r in funnel.get("ranking", {}).get("groups", [])}
    return render(
        page,
        "commercial.html",
        funnel=funnel,
        ranked=ranked,
        kanban=kanban,
        forecast=forecast,
        history=_history_by_month(forecast.get("history", [])),
        models=MODELS,
        cac=cac,
        okrs=okrs,
        maturity=maturity,
        pt=page.locale == "pt-BR",
    )
