"""KPIs, trends, segments and cohorts: one definition, shared by the API and the dashboard.

Where ``recompra analyze`` has written the brand's outputs (``<home>/analytics/<slug>/``:
``summary.json``, ``kpis_by_period.parquet``, ``segments.parquet``, ``cohorts.parquet``),
the numbers come from them, so that the analytics package is the single definition of
every KPI. Without them, the SQL of :mod:`recompra.api.queries.metrics` is the fallback.
Every answer says which one it used (``source``: ``analytics`` or ``database``).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from pathlib import Path
from typing import Any, Literal

from sqlalchemy.orm import Session

from recompra.api.outputs import AnalyticsOutputs, analytics_outputs, clean
from recompra.api.queries import metrics as mq
from recompra.api.queries.sql import Granularity
from recompra.api.schemas import CohortRow, KpiPeriod, KpiSummary, SegmentRow

Source = Literal["analytics", "database"]


def _int(value: Any) -> int:
    value = clean(value)
    return round(float(value)) if value is not None else 0


def _round(value: Any) -> int | None:
    value = clean(value)
    return round(float(value)) if value is not None else None


def _float(value: Any) -> float | None:
    value = clean(value)
    return float(value) if value is not None else None


def _as_of(outputs: AnalyticsOutputs) -> date | None:
    value = outputs.summary.get("as_of")
    try:
        return date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def _month(period: str) -> int:
    year, _, month = period.partition("-")
    return int(year) * 12 + int(month or 1) - 1


def kpi_summary(session: Session, *, home: Path, brand_id: int, currency: str) -> KpiSummary:
    """Headline KPIs: ``summary.json`` when analysed, else SQL over the whole history.

    The predicted CLV (and ``scores_as_of``) always come from ``customer_scores``.
    """
    outputs = analytics_outputs(session, home, brand_id)
    if outputs is None:
        return mq.kpi_summary(session, brand_id=brand_id, currency=currency)
    s = outputs.summary
    as_of = mq.latest_as_of(session, brand_id=brand_id)
    predicted = None
    if as_of is not None:
        predicted = mq.mean_predicted_clv(session, brand_id=brand_id, as_of=as_of)
    return KpiSummary(
        currency=currency,
        revenue_minor=_int(s.get("revenue_minor")),
        orders=_int(s.get("orders_total")),
        customers=_int(s.get("customers_total")),
        repurchase_rate=_float(s.get("repurchase_rate")),
        retention_rate=_float(s.get("retention_rate")),
        aov_minor=_round(s.get("average_order_value_minor")),
        historic_clv_minor=_round(s.get("historic_clv_minor")),
        predicted_clv_minor=predicted,
        nps=_float(s.get("nps")),
        scores_as_of=as_of,
        source="analytics",
        analytics_as_of=_as_of(outputs),
    )


def kpis_by_period(
    session: Session, *, home: Path, brand_id: int, granularity: Granularity = "month"
) -> tuple[list[KpiPeriod], Source]:
    """KPIs per period from ``kpis_by_period.parquet``, else from SQL."""
    outputs = analytics_outputs(session, home, brand_id)
    rows = outputs.kpis_by_period if outputs is not None else None
    if rows is None:
        return mq.kpis_by_period(session, brand_id=brand_id, granularity=granularity), "database"
    items = [
        KpiPeriod(
            period=str(r["period"]),
            revenue_minor=_int(r.get("revenue_minor")),
            returns_minor=_int(r.get("refunds_minor")),
            orders=_int(r.get("orders")),
            customers=_int(r.get("active_customers")),
            new_customers=_int(r.get("new_customers")),
            returning_customers=_int(r.get("returning_customers")),
            aov_minor=_round(r.get("average_order_value_minor")),
            purchase_frequency=_float(r.get("purchase_frequency")),
            retention_rate=_float(r.get("retention_rate")),
            churn_rate=_float(r.get("churn_rate")),
            repurchase_rate=_float(r.get("repurchase_rate")),
            nps=_float(r.get("nps")),
            reviews=_int(r.get("reviews")),
        )
        for r in rows
        if r.get("granularity") == granularity
    ]
    items.sort(key=lambda k: k.period)
    return items, "analytics"


def segments(
    session: Session, *, home: Path, brand_id: int
) -> tuple[date | None, list[SegmentRow], Source]:
    """Segments from ``segments.parquet`` (mean CLV and P(alive) from the latest scores).

    Falls back to grouping ``customer_scores`` on the latest as-of date.
    """
    as_of = mq.latest_as_of(session, brand_id=brand_id)
    outputs = analytics_outputs(session, home, brand_id)
    rows = outputs.segments if outputs is not None else None
    if outputs is None or rows is None:
        items = mq.segments(session, brand_id=brand_id, as_of=as_of) if as_of else []
        return as_of, items, "database"
    scored = (
        {s.segment: s for s in mq.segments(session, brand_id=brand_id, as_of=as_of)}
        if as_of
        else {}
    )
    items = []
    for r in rows:
        customers = _int(r.get("customers"))
        if customers <= 0:
            continue
        key = str(r.get("segment") or mq.UNSEGMENTED)
        db = scored.get(key)
        items.append(
            SegmentRow(
                segment=key,
                customers=customers,
                share=_float(r.get("customer_share")) or 0.0,
                monetary_minor=_int(r.get("revenue_minor")),
                avg_clv_minor=db.avg_clv_minor if db else None,
                avg_p_alive=db.avg_p_alive if db else None,
            )
        )
    items.sort(key=lambda s: (-s.customers, s.segment))
    return as_of or _as_of(outputs), items, "analytics"


def cohorts(
    session: Session, *, home: Path, brand_id: int, max_months: int = 12
) -> tuple[list[CohortRow], Source]:
    """Monthly cohorts from ``cohorts.parquet``, else from SQL."""
    outputs = analytics_outputs(session, home, brand_id)
    rows = outputs.cohorts if outputs is not None else None
    if rows is None:
        return mq.cohorts(session, brand_id=brand_id, max_months=max_months), "database"
    sizes: dict[str, int] = {}
    shares: dict[str, dict[int, float]] = defaultdict(dict)
    for r in rows:
        cohort = str(r.get("cohort_month"))[:7]
        months = _int(r.get("months_since_first"))
        sizes[cohort] = _int(r.get("cohort_size"))
        if 0 <= months < max_months:
            shares[cohort][months] = _float(r.get("retention_rate")) or 0.0
    # Months without a buyer have no row: the heatmap still runs to the last month seen.
    last = max(
        (_month(str(r.get("cohort_month"))[:7]) + _int(r.get("months_since_first")) for r in rows),
        default=0,
    )
    as_of = _as_of(outputs) if outputs is not None else None
    if as_of is not None:
        last = max(last, as_of.year * 12 + as_of.month - 1)
    items = []
    for cohort in sorted(sizes):
        by_month = shares[cohort]
        width = min(max_months, last - _month(cohort) + 1)
        items.append(
            CohortRow(
                cohort=cohort,
                size=sizes[cohort],
                retention=[by_month.get(m, 0.0) for m in range(width)],
            )
        )
    return items, "analytics"
