"""What the CLI, the API and the dashboard show about the commercial area, built once.

Each function returns a JSON-ready dict (money in minor units, dates ISO), so the three
surfaces show the same numbers. The analyses themselves live in ``recompra.commercial``.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from recompra.commercial import forecast, funnel, okrs, refit
from recompra.commercial.cac import (
    audience_cac,
    b2b_new_customers,
    b2c_new_customers,
    spend_frame,
)
from recompra.commercial.deals import kanban
from recompra.commercial.frames import funnel_frame
from recompra.commercial.funnel_sql import DIMENSIONS
from recompra.commercial.maturity import LEVELS, assess
from recompra.commercial.service import store_backtest
from recompra.models import ForecastBacktest, Lead, LeadScoreFit, Opportunity, SalesStage

#: Dimensions whose groups are ranked with empirical-Bayes shrinkage.
RANKED = ("channel", "page")


def _flag_counts(session: Session, brand_id: int) -> dict[str, int]:
    counts: dict[str, int] = {}
    for flags in session.scalars(select(Opportunity.flags).where(Opportunity.brand_id == brand_id)):
        for name in flags or {}:
            counts[name] = counts.get(name, 0) + 1
    return counts


def funnel_report(
    session: Session, *, brand_id: int, by: str = "channel", engine: str = "duckdb"
) -> dict[str, Any]:
    """Overall and per-``by`` conversion, time to close, ranking, rep concentration.

    The metrics run on ``engine`` (``duckdb`` embedded, or ``spark``), the same SQL texts.
    """
    if by not in DIMENSIONS:
        raise ValueError(f"--by must be one of {', '.join(DIMENSIONS)}")
    frame = funnel_frame(session, brand_id=brand_id)
    with funnel.funnel_engine(frame, engine=engine) as metrics:
        report: dict[str, Any] = {
            "by": by,
            "overall": [c.as_dict() for c in funnel.conversion(metrics)],
            "groups": [c.as_dict() for c in funnel.conversion(metrics, by)],
            "time_to_close": funnel.time_to_close(metrics).as_dict(),
            "rep_concentration": asdict(funnel.rep_concentration(metrics)),
            "data_quality": _flag_counts(session, brand_id),
        }
        if by in RANKED:
            ranked, (a, b) = funnel.shrunk_ranking(metrics, by)
            report["ranking"] = {
                "prior": {"a": a, "b": b},
                "groups": [asdict(r) for r in ranked],
            }
    if by == "rep" and len(frame) and frame["sdr"].notna().any():
        # Olist names the SDR only on won deals: conversion by rep is then 100% by
        # construction, and the report says so instead of ranking reps on it.
        with_rep = frame[frame["sdr"].notna()]
        if bool(with_rep["won"].all()):
            report["warning"] = "reps are recorded only on won deals: conversion by rep is 100%"
    return report


def forecast_report(
    session: Session, *, brand_id: int, run_backtest: bool = False, at: datetime | None = None
) -> dict[str, Any]:
    """Weighted pipeline, next month's lag forecast and (optionally) a stored back-test."""
    frame = funnel_frame(session, brand_id=brand_id)
    weighted = forecast.weighted_pipeline(session, brand_id=brand_id)
    report: dict[str, Any] = {"weighted_pipeline": asdict(weighted)}
    if frame.empty:
        report["missing"] = "no leads: import a funnel first"
        return report
    counts = forecast.monthly_counts(frame)
    month, value = forecast.next_month_forecast(counts)
    report["next_month"] = {"month": month.isoformat(), "won_deals": value}
    if run_backtest:
        result = forecast.backtest(counts)
        if at is not None:
            store_backtest(session, brand_id=brand_id, backtest=result, at=at)
        report["backtest"] = result.as_dict()
    report["history"] = backtest_history(session, brand_id=brand_id)
    return report


def backtest_history(session: Session, *, brand_id: int) -> list[dict[str, Any]]:
    """Stored forecast vs actual per month and model."""
    rows = session.scalars(
        select(ForecastBacktest)
        .where(ForecastBacktest.brand_id == brand_id)
        .order_by(ForecastBacktest.month, ForecastBacktest.model)
    )
    return [
        {
            "month": r.month.isoformat(),
            "model": r.model,
            "forecast": r.forecast,
            "actual": r.actual,
        }
        for r in rows
    ]


def lead_score_report(session: Session, *, brand_id: int, at: datetime) -> dict[str, Any]:
    """Fit the lead score now (``commercial.refit``): both models' CV AUC and lift, the
    stored fit's version and how many leads it scored."""
    outcome = refit.fit_lead_scores(session, brand_id=brand_id, at=at)
    if outcome is None:
        return {"missing": "lead scores need leads that converted and leads that did not"}
    return {
        "models": [asdict(r) for r in outcome.reports],
        "chosen": outcome.fit.model,
        "version": outcome.fit.version,
        "scored": outcome.scored,
    }


def lead_fits_report(session: Session, *, brand_id: int, top: int = 20) -> dict[str, Any]:
    """Every stored fit (newest first), how many leads carry a score and the ``top``
    best-scored leads that have not converted yet (the ones worth a call)."""
    fits = session.scalars(
        select(LeadScoreFit)
        .where(LeadScoreFit.brand_id == brand_id)
        .order_by(LeadScoreFit.version.desc())
    ).all()
    return {
        "fits": [
            {
                "version": f.version,
                "model": f.model,
                "auc": f.auc,
                "top_decile_lift": f.top_decile_lift,
                "leads": f.leads,
                "converted": f.converted,
                "fitted_at": f.fitted_at.isoformat(),
            }
            for f in fits
        ],
        "scored": session.scalar(
            select(func.count()).where(Lead.brand_id == brand_id, Lead.score.is_not(None))
        ),
        "top_leads": [
            {
                "external_id": lead.external_id,
                "channel": lead.channel,
                "landing_page": lead.landing_page,
                "first_contact_on": lead.first_contact_on.isoformat(),
                "score": lead.score,
            }
            for lead in session.scalars(
                select(Lead)
                .where(
                    Lead.brand_id == brand_id,
                    Lead.score.is_not(None),
                    ~select(Opportunity.id)
                    .where(Opportunity.lead_id == Lead.id, Opportunity.status == "won")
                    .exists(),
                )
                .order_by(Lead.score.desc(), Lead.id)
                .limit(top)
            )
        ],
    }


def cac_report(
    session: Session, *, brand_id: int, gross_margin: float | None = None
) -> dict[str, Any]:
    """B2C and B2B CAC with what is missing for each figure."""
    spend = spend_frame(session, brand_id=brand_id)
    b2c = b2c_new_customers(session, brand_id=brand_id)
    b2b = b2b_new_customers(
        session, brand_id=brand_id, funnel=funnel_frame(session, brand_id=brand_id)
    )
    return {
        "gross_margin": gross_margin,
        "audiences": [
            asdict(audience_cac("b2c", spend, b2c, gross_margin)),
            asdict(audience_cac("b2b", spend, b2b, gross_margin)),
        ],
    }


def okr_report(session: Session, *, brand_id: int, key: str | None = None) -> list[dict[str, Any]]:
    """Every objective (or one) with its key results judged on their live KPIs."""
    chosen = (
        [okrs.objective(session, brand_id=brand_id, key=key)]
        if key
        else okrs.objectives(session, brand_id=brand_id)
    )
    return [asdict(okrs.objective_status(session, o)) for o in chosen]


def maturity_report(session: Session, *, brand_id: int) -> dict[str, Any]:
    """Levels per dimension (evidence-capped) with the next step of each."""
    results = assess(session, brand_id=brand_id)
    return {
        "levels": {str(k): {"pt": v[0], "en": v[1]} for k, v in LEVELS.items()},
        "dimensions": [asdict(r) for r in results],
    }


def kanban_report(session: Session, *, brand_id: int) -> list[dict[str, Any]]:
    """Count and Σ amount per stage."""
    return [asdict(c) for c in kanban(session, brand_id=brand_id)]


def deal_cards(
    session: Session, *, brand_id: int, per_stage: int = 6
) -> dict[str, list[dict[str, Any]]]:
    """The ``per_stage`` most recent deals of each stage (stage key -> cards), for the kanban."""
    # Newest first per stage with a window, so a stage with 800 won deals costs no more
    # than one with six.
    recency = (
        func.row_number()
        .over(partition_by=Opportunity.stage_id, order_by=Opportunity.id.desc())
        .label("recency")
    )
    ranked = select(Opportunity.id, recency).where(Opportunity.brand_id == brand_id).subquery()
    rows = session.execute(
        select(Opportunity, SalesStage.key)
        .join(ranked, ranked.c.id == Opportunity.id)
        .join(SalesStage, SalesStage.id == Opportunity.stage_id)
        .where(ranked.c.recency <= per_stage)
        .order_by(SalesStage.position, Opportunity.id.desc())
    ).all()
    cards: dict[str, list[dict[str, Any]]] = {}
    for opp, stage in rows:
        cards.setdefault(stage, []).append(
            {
                "external_id": opp.external_id,
                "company": opp.company,
                "amount_minor": opp.amount_minor,
                "owner": opp.owner,
                "expected_close_on": (
                    opp.expected_close_on.isoformat() if opp.expected_close_on else None
                ),
                "lost_reason": opp.lost_reason,
            }
        )
    return cards
