"""Brand-level reads: segments, the RFM grid, ranked score lists, KPIs and cohorts.

This is the SQL fallback of :mod:`recompra.api.queries.kpis`, used for KPIs, trends,
segments and cohorts only when ``recompra analyze`` outputs are absent for the brand.
Scores come from ``customer_scores`` on the brand's latest as-of date (written by the
analytics and prediction runs). KPIs and cohorts are computed from orders, returns and
reviews: SQL aggregates per period, and one ``(customer, month, orders)`` query from
which new/returning buyers, retention, repurchase and cohorts are derived.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from recompra.api.queries.sql import Granularity, period_key, purchase_filter
from recompra.api.schemas import (
    Bucket,
    CohortRow,
    KpiPeriod,
    KpiSummary,
    RfmCell,
    ScoredCustomer,
    SegmentRow,
)
from recompra.models import Customer, CustomerScore, Order, Return, Review

UNSEGMENTED = "unsegmented"


def latest_as_of(session: Session, *, brand_id: int) -> date | None:
    """The brand's most recent scoring date, or ``None`` before the first run."""
    value = session.execute(
        select(func.max(CustomerScore.as_of)).where(CustomerScore.brand_id == brand_id)
    ).scalar_one_or_none()
    if isinstance(value, str):
        return date.fromisoformat(value)
    return value


def segments(session: Session, *, brand_id: int, as_of: date) -> list[SegmentRow]:
    """Customers, monetary value, mean CLV and P(alive) per segment on ``as_of``."""
    label = func.coalesce(CustomerScore.segment, UNSEGMENTED)
    rows = session.execute(
        select(
            label,
            func.count(),
            func.coalesce(func.sum(CustomerScore.monetary_minor), 0),
            func.avg(CustomerScore.clv_minor),
            func.avg(CustomerScore.p_alive),
        )
        .where(CustomerScore.brand_id == brand_id, CustomerScore.as_of == as_of)
        .group_by(label)
    ).all()
    total = sum(int(r[1]) for r in rows) or 1
    items = [
        SegmentRow(
            segment=str(r[0]),
            customers=int(r[1]),
            share=int(r[1]) / total,
            monetary_minor=int(r[2]),
            avg_clv_minor=round(r[3]) if r[3] is not None else None,
            avg_p_alive=float(r[4]) if r[4] is not None else None,
        )
        for r in rows
    ]
    items.sort(key=lambda s: (-s.customers, s.segment))
    return items


def rfm_grid(session: Session, *, brand_id: int, as_of: date) -> list[RfmCell]:
    """Customer count, mean monetary value and dominant segment per (R, F) cell."""
    where = (
        CustomerScore.brand_id == brand_id,
        CustomerScore.as_of == as_of,
        CustomerScore.r_score.is_not(None),
        CustomerScore.f_score.is_not(None),
    )
    dominant: dict[tuple[int, int], Counter[str]] = defaultdict(Counter)
    for r, f, segment, n in session.execute(
        select(CustomerScore.r_score, CustomerScore.f_score, CustomerScore.segment, func.count())
        .where(*where)
        .group_by(CustomerScore.r_score, CustomerScore.f_score, CustomerScore.segment)
    ):
        if r is not None and f is not None:  # filtered in SQL; narrows the type
            dominant[(r, f)][segment or UNSEGMENTED] += int(n)
    cells = []
    for r, f, n, avg_m in session.execute(
        select(
            CustomerScore.r_score,
            CustomerScore.f_score,
            func.count(),
            func.avg(CustomerScore.monetary_minor),
        )
        .where(*where)
        .group_by(CustomerScore.r_score, CustomerScore.f_score)
        .order_by(CustomerScore.r_score.desc(), CustomerScore.f_score.desc())
    ):
        common = dominant[(int(r), int(f))].most_common(1)
        cells.append(
            RfmCell(
                r=int(r),
                f=int(f),
                customers=int(n),
                avg_monetary_minor=round(avg_m or 0),
                segment=common[0][0] if common else None,
            )
        )
    return cells


@dataclass(frozen=True)
class ScoreFilter:
    """Which scored customers a list shows, and how it is ranked."""

    order_by: str = "monetary"
    segment: str | None = None
    r: int | None = None
    f: int | None = None
    min_churn_risk: float | None = None


def scored_customers(
    session: Session,
    *,
    brand_id: int,
    as_of: date,
    where: ScoreFilter,
    limit: int,
    offset: int = 0,
) -> list[ScoredCustomer]:
    """Scored customers on ``as_of``, filtered and ranked (highest first)."""
    order_col = {
        "monetary": CustomerScore.monetary_minor,
        "clv": CustomerScore.clv_minor,
        "churn": CustomerScore.churn_risk,
    }[where.order_by]
    stmt = (
        select(CustomerScore, Customer.name, Customer.email)
        .join(Customer, Customer.id == CustomerScore.customer_id)
        .where(CustomerScore.brand_id == brand_id, CustomerScore.as_of == as_of)
    )
    if where.order_by != "monetary":
        stmt = stmt.where(order_col.is_not(None))
    if where.segment is not None:
        if where.segment == UNSEGMENTED:
            stmt = stmt.where(CustomerScore.segment.is_(None))
        else:
            stmt = stmt.where(CustomerScore.segment == where.segment)
    if where.r is not None:
        stmt = stmt.where(CustomerScore.r_score == where.r)
    if where.f is not None:
        stmt = stmt.where(CustomerScore.f_score == where.f)
    if where.min_churn_risk is not None:
        stmt = stmt.where(CustomerScore.churn_risk >= where.min_churn_risk)
    stmt = (
        stmt.order_by(
            case((order_col.is_(None), 1), else_=0), order_col.desc(), CustomerScore.customer_id
        )
        .limit(limit)
        .offset(offset)
    )
    return [
        ScoredCustomer(
            id=s.customer_id,
            name=name,
            email=email,
            segment=s.segment,
            r_score=s.r_score,
            f_score=s.f_score,
            monetary_minor=s.monetary_minor,
            clv_minor=s.clv_minor,
            p_alive=s.p_alive,
            churn_risk=s.churn_risk,
        )
        for s, name, email in session.execute(stmt)
    ]


def clv_histogram(
    session: Session, *, brand_id: int, as_of: date, buckets: int = 10
) -> list[Bucket]:
    """Equal-width histogram of predicted CLV on ``as_of`` (empty if none predicted)."""
    values = [
        v
        for (v,) in session.execute(
            select(CustomerScore.clv_minor).where(
                CustomerScore.brand_id == brand_id,
                CustomerScore.as_of == as_of,
                CustomerScore.clv_minor.is_not(None),
            )
        )
        if v is not None
    ]
    if not values:
        return []
    low, high = min(values), max(values)
    width = max(1, -(-(high - low + 1) // buckets))
    counts = Counter(min((v - low) // width, buckets - 1) for v in values)
    return [
        Bucket(low_minor=low + i * width, high_minor=low + (i + 1) * width, customers=counts[i])
        for i in range(buckets)
    ]


def _month_index(period: str) -> int:
    year, _, month = period.partition("-")
    return int(year) * 12 + (int(month) - 1 if month else 0)


def _period_name(index: int, granularity: Granularity) -> str:
    if granularity == "year":
        return str(index // 12)
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


@dataclass
class _Activity:
    """Purchases per customer per period, the base of the customer-level KPIs."""

    by_period: dict[int, dict[int, int]]  # period index -> customer -> orders

    @property
    def periods(self) -> list[int]:
        return sorted(self.by_period)


def _activity(session: Session, brand_id: int, granularity: Granularity) -> _Activity:
    key = period_key(session, Order.purchased_at, granularity)
    by_period: dict[int, dict[int, int]] = defaultdict(dict)
    for customer_id, period, n in session.execute(
        select(Order.customer_id, key, func.count())
        .where(Order.brand_id == brand_id, purchase_filter())
        .group_by(Order.customer_id, key)
    ):
        index = _month_index(period) if granularity == "month" else int(period) * 12
        by_period[index][int(customer_id)] = int(n)
    return _Activity(dict(by_period))


def kpis_by_period(
    session: Session, *, brand_id: int, granularity: Granularity = "month"
) -> list[KpiPeriod]:
    """Revenue, orders, buyers, retention, repurchase and NPS proxy per period."""
    step = 1 if granularity == "month" else 12
    key = period_key(session, Order.purchased_at, granularity)
    money = {
        p: (int(rev), int(n))
        for p, rev, n in session.execute(
            select(key, func.coalesce(func.sum(Order.total_minor), 0), func.count())
            .where(Order.brand_id == brand_id, purchase_filter())
            .group_by(key)
        )
    }
    rkey = period_key(session, Return.created_at, granularity)
    returns = {
        p: int(v)
        for p, v in session.execute(
            select(rkey, func.coalesce(func.sum(Return.amount_minor), 0))
            .where(Return.brand_id == brand_id)
            .group_by(rkey)
        )
    }
    vkey = period_key(session, Review.created_at, granularity)
    reviews = {
        p: (int(n), int(pro or 0), int(det or 0))
        for p, n, pro, det in session.execute(
            select(
                vkey,
                func.count(),
                func.sum(case((Review.score == 5, 1), else_=0)),
                func.sum(case((Review.score <= 3, 1), else_=0)),
            )
            .where(Review.brand_id == brand_id)
            .group_by(vkey)
        )
    }
    activity = _activity(session, brand_id, granularity)
    seen: set[int] = set()
    repeaters: set[int] = set()
    cumulative_orders: Counter[int] = Counter()
    items = []
    for index in activity.periods:
        name = _period_name(index, granularity)
        buyers = activity.by_period[index]
        new = [c for c in buyers if c not in seen]
        seen.update(buyers)
        for customer, n in buyers.items():
            cumulative_orders[customer] += n
            if cumulative_orders[customer] >= 2:
                repeaters.add(customer)
        previous = activity.by_period.get(index - step)
        retention = sum(1 for c in previous if c in buyers) / len(previous) if previous else None
        revenue, orders = money.get(name, (0, 0))
        n_reviews, promoters, detractors = reviews.get(name, (0, 0, 0))
        items.append(
            KpiPeriod(
                period=name,
                revenue_minor=revenue,
                returns_minor=returns.get(name, 0),
                orders=orders,
                customers=len(buyers),
                new_customers=len(new),
                returning_customers=len(buyers) - len(new),
                aov_minor=round(revenue / orders) if orders else None,
                purchase_frequency=orders / len(buyers) if buyers else None,
                retention_rate=retention,
                churn_rate=1 - retention if retention is not None else None,
                repurchase_rate=len(repeaters) / len(seen) if seen else None,
                nps=100 * (promoters - detractors) / n_reviews if n_reviews else None,
                reviews=n_reviews,
            )
        )
    return items


def mean_predicted_clv(session: Session, *, brand_id: int, as_of: date) -> int | None:
    """Mean predicted CLV of the scores on ``as_of`` (``None`` when none predicted)."""
    mean = session.execute(
        select(func.avg(CustomerScore.clv_minor)).where(
            CustomerScore.brand_id == brand_id, CustomerScore.as_of == as_of
        )
    ).scalar_one()
    return round(mean) if mean is not None else None


def kpi_summary(session: Session, *, brand_id: int, currency: str) -> KpiSummary:
    """Headline KPIs over the brand's whole history."""
    revenue, orders, customers = session.execute(
        select(
            func.coalesce(func.sum(Order.total_minor), 0),
            func.count(),
            func.count(func.distinct(Order.customer_id)),
        ).where(Order.brand_id == brand_id, purchase_filter())
    ).one()
    returned = session.execute(
        select(func.coalesce(func.sum(Return.amount_minor), 0)).where(Return.brand_id == brand_id)
    ).scalar_one()
    repeaters = session.execute(
        select(func.count()).select_from(
            select(Order.customer_id)
            .where(Order.brand_id == brand_id, purchase_filter())
            .group_by(Order.customer_id)
            .having(func.count() >= 2)
            .subquery()
        )
    ).scalar_one()
    n_reviews, promoters, detractors = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(case((Review.score == 5, 1), else_=0)), 0),
            func.coalesce(func.sum(case((Review.score <= 3, 1), else_=0)), 0),
        ).where(Review.brand_id == brand_id)
    ).one()
    as_of = latest_as_of(session, brand_id=brand_id)
    predicted = None
    if as_of is not None:
        predicted = mean_predicted_clv(session, brand_id=brand_id, as_of=as_of)
    monthly = kpis_by_period(session, brand_id=brand_id, granularity="month")
    retention = next(
        (k.retention_rate for k in reversed(monthly) if k.retention_rate is not None), None
    )
    revenue, orders, customers = int(revenue), int(orders), int(customers)
    return KpiSummary(
        currency=currency,
        revenue_minor=revenue,
        orders=orders,
        customers=customers,
        repurchase_rate=int(repeaters) / customers if customers else None,
        retention_rate=retention,
        aov_minor=round(revenue / orders) if orders else None,
        historic_clv_minor=round((revenue - int(returned)) / customers) if customers else None,
        predicted_clv_minor=predicted,
        nps=100 * (int(promoters) - int(detractors)) / int(n_reviews) if n_reviews else None,
        scores_as_of=as_of,
    )


def cohorts(session: Session, *, brand_id: int, max_months: int = 12) -> list[CohortRow]:
    """Monthly acquisition cohorts: the share of each cohort buying in month 0, 1, 2..."""
    activity = _activity(session, brand_id, "month")
    first: dict[int, int] = {}
    for index in activity.periods:
        for customer in activity.by_period[index]:
            first.setdefault(customer, index)
    members: dict[int, list[int]] = defaultdict(list)
    for customer, index in first.items():
        members[index].append(customer)
    last = activity.periods[-1] if activity.periods else 0
    rows = []
    for cohort in sorted(members):
        size = len(members[cohort])
        retention = []
        for offset in range(min(max_months, last - cohort + 1)):
            buyers = activity.by_period.get(cohort + offset, {})
            retention.append(sum(1 for c in members[cohort] if c in buyers) / size)
        rows.append(CohortRow(cohort=_period_name(cohort, "month"), size=size, retention=retention))
    return rows
