"""Live KPIs that key results bind to: each returns a value, its sample and its interval.

Every KPI reads the hub (orders, reviews, scores) or the funnel frame at call time, so an
OKR's progress moves with the data. ``segment`` filters funnel KPIs by channel; the
period filters leads by first contact, orders and reviews by date (inclusive start,
exclusive end). Proportions carry Wilson intervals and means t intervals (statsmodels);
counts and medians carry none, and a KR on them is judged on sample size alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

import numpy as np
import pandas as pd
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from recompra.commercial.cac import (
    MISSING,
    audience_cac,
    b2b_new_customers,
    b2c_new_customers,
    spend_frame,
)
from recompra.commercial.frames import funnel_frame
from recompra.commercial.funnel import ALPHA, funnel_engine, time_to_close
from recompra.models import CustomerScore, Order, Review


@dataclass(frozen=True)
class Period:
    """A half-open date range [start, end); either bound may be open."""

    start: date | None = None
    end: date | None = None


@dataclass(frozen=True)
class KpiValue:
    """A KPI's current value, the sample behind it and its interval (if it has one)."""

    value: float | None
    sample: int
    ci_low: float | None = None
    ci_high: float | None = None
    #: Why ``value`` is missing, when it is.
    missing: str | None = None


@dataclass(frozen=True)
class KpiContext:
    """What a KPI is computed over."""

    session: Session
    brand_id: int
    segment: str | None
    period: Period


def _proportion(hits: int, n: int) -> KpiValue:
    if n == 0:
        return KpiValue(None, 0, missing="no data in the period")
    # statsmodels is imported where used: the API server imports this module and must
    # start without it (issue 20).
    from statsmodels.stats.proportion import proportion_confint

    low, high = proportion_confint(hits, n, alpha=ALPHA, method="wilson")
    return KpiValue(hits / n, n, float(low), float(high))


def _mean(values: np.ndarray) -> KpiValue:
    if len(values) == 0:
        return KpiValue(None, 0, missing="no data in the period")
    if len(values) < 2:
        return KpiValue(float(values.mean()), len(values))
    from statsmodels.stats.weightstats import DescrStatsW  # lazy, see _proportion

    low, high = DescrStatsW(values).tconfint_mean(alpha=ALPHA)
    return KpiValue(float(values.mean()), len(values), float(low), float(high))


def _bounds(period: Period) -> tuple[datetime | None, datetime | None]:
    def at(day: date | None) -> datetime | None:
        return None if day is None else datetime.combine(day, time(), tzinfo=UTC)

    return at(period.start), at(period.end)


def _funnel(ctx: KpiContext) -> pd.DataFrame:
    frame = funnel_frame(ctx.session, brand_id=ctx.brand_id)
    if ctx.segment:
        frame = frame[frame["channel"] == ctx.segment]
    first = frame["first_contact_on"]
    if ctx.period.start:
        frame = frame[first >= pd.Timestamp(ctx.period.start)]
    if ctx.period.end:
        frame = frame[frame["first_contact_on"] < pd.Timestamp(ctx.period.end)]
    return frame


def _orders_per_customer(ctx: KpiContext) -> pd.Series:
    start, end = _bounds(ctx.period)
    query: Select[int, int] = select(Order.customer_id, func.count()).where(
        Order.brand_id == ctx.brand_id
    )
    if start:
        query = query.where(Order.purchased_at >= start)
    if end:
        query = query.where(Order.purchased_at < end)
    rows = ctx.session.execute(query.group_by(Order.customer_id)).all()
    return pd.Series([int(n) for _, n in rows], dtype=float)


def _review_scores(ctx: KpiContext) -> np.ndarray:
    start, end = _bounds(ctx.period)
    query = select(Review.score).where(Review.brand_id == ctx.brand_id)
    if start:
        query = query.where(Review.created_at >= start)
    if end:
        query = query.where(Review.created_at < end)
    return np.array(ctx.session.scalars(query).all(), dtype=int)


def lead_conversion_rate(ctx: KpiContext) -> KpiValue:
    """Share of leads (first contact in the period) with a won deal."""
    frame = _funnel(ctx)
    return _proportion(int(frame["won"].sum()), len(frame))


def lead_count(ctx: KpiContext) -> KpiValue:
    """Leads first contacted in the period."""
    n = len(_funnel(ctx))
    return KpiValue(float(n), n)


def won_deals(ctx: KpiContext) -> KpiValue:
    """Won deals of the leads first contacted in the period."""
    n = int(_funnel(ctx)["won"].sum())
    return KpiValue(float(n), n)


def median_days_to_close(ctx: KpiContext) -> KpiValue:
    """Median days from first contact to won (``funnel.time_to_close``)."""
    with funnel_engine(_funnel(ctx)) as engine:
        times = time_to_close(engine)
    if times.median is None:
        return KpiValue(None, 0, missing="no won deals in the period")
    return KpiValue(times.median, times.deals)


def orders_per_customer(ctx: KpiContext) -> KpiValue:
    """Mean orders per customer who ordered in the period (purchase frequency)."""
    return _mean(_orders_per_customer(ctx).to_numpy())


def repeat_rate(ctx: KpiContext) -> KpiValue:
    """Share of the period's customers with two or more orders in it."""
    counts = _orders_per_customer(ctx)
    return _proportion(int((counts >= 2).sum()), len(counts))


def active_customers(ctx: KpiContext) -> KpiValue:
    """Customers with at least one order in the period."""
    n = len(_orders_per_customer(ctx))
    return KpiValue(float(n), n)


def promoter_share(ctx: KpiContext) -> KpiValue:
    """Share of reviews scoring 5 of 5 (the stand-in for NPS promoters)."""
    scores = _review_scores(ctx)
    return _proportion(int((scores == 5).sum()), len(scores))


def low_review_share(ctx: KpiContext) -> KpiValue:
    """Share of reviews scoring 1 or 2 of 5 (complaints that need resolving)."""
    scores = _review_scores(ctx)
    return _proportion(int((scores <= 2).sum()), len(scores))


def mean_predicted_clv(ctx: KpiContext) -> KpiValue:
    """Mean predicted CLV (minor units) over customers with a score."""
    values = ctx.session.scalars(
        select(CustomerScore.clv_minor).where(
            CustomerScore.brand_id == ctx.brand_id, CustomerScore.clv_minor.is_not(None)
        )
    ).all()
    if not values:
        return KpiValue(None, 0, missing="no predicted CLV (run recompra predict)")
    return _mean(np.array(values, dtype=float))


def _cac(audience: str) -> Callable[[KpiContext], KpiValue]:
    def compute(ctx: KpiContext) -> KpiValue:
        spend = spend_frame(ctx.session, brand_id=ctx.brand_id)
        if audience == "b2b":
            new = b2b_new_customers(
                ctx.session,
                brand_id=ctx.brand_id,
                funnel=funnel_frame(ctx.session, brand_id=ctx.brand_id),
            )
        else:
            new = b2c_new_customers(ctx.session, brand_id=ctx.brand_id)
        result = audience_cac(audience, spend, new, None)
        if result.blended_minor is None:
            reasons = "; ".join(MISSING[code] for code in result.missing)
            return KpiValue(None, result.new_customers, missing=reasons)
        return KpiValue(float(result.blended_minor), result.new_customers)

    compute.__doc__ = f"Blended {audience.upper()} CAC in minor units (``cac.audience_cac``)."
    return compute


KPIS: dict[str, Callable[[KpiContext], KpiValue]] = {
    "lead_conversion_rate": lead_conversion_rate,
    "lead_count": lead_count,
    "won_deals": won_deals,
    "median_days_to_close": median_days_to_close,
    "orders_per_customer": orders_per_customer,
    "repeat_rate": repeat_rate,
    "active_customers": active_customers,
    "promoter_share": promoter_share,
    "low_review_share": low_review_share,
    "mean_predicted_clv": mean_predicted_clv,
    "cac_b2c_blended": _cac("b2c"),
    "cac_b2b_blended": _cac("b2b"),
}


def kpi_value(
    session: Session,
    *,
    brand_id: int,
    kpi: str,
    segment: str | None = None,
    period: Period | None = None,
) -> KpiValue:
    """The current value of ``kpi`` (a key of ``KPIS``)."""
    if kpi not in KPIS:
        raise KeyError(kpi)
    return KPIS[kpi](KpiContext(session, brand_id, segment, period or Period()))
