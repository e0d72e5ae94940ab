"""Per-customer scores of a brand: the RFM grid, ranked lists, CLV figures.

Scores come from ``customer_scores`` on the brand's latest as-of date (written by the
analytics and prediction runs). KPIs are not computed here: they are the analytics
outputs, read by :mod:`recompra.reads.kpis`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session

from recompra.models import Customer, CustomerScore
from recompra.reads.customer_search import CustomerFilter
from recompra.reads.models import Bucket, RfmCell, ScoredCustomer

UNSEGMENTED = "unsegmented"


def latest_as_of(session: Session, *, brand_id: int) -> date | None:
    """The brand's most recent scoring date, or ``None`` before the first run."""
    # MAX keeps the column's Date type, so SQLite's text comes back as a date too.
    value: date | None = session.execute(
        select(func.max(CustomerScore.as_of)).where(CustomerScore.brand_id == brand_id)
    ).scalar_one_or_none()
    return value


@dataclass(frozen=True)
class SegmentAverages:
    """Mean predicted CLV and P(alive) of a segment's scored customers."""

    clv_minor: int | None
    p_alive: float | None


def segment_averages(session: Session, *, brand_id: int, as_of: date) -> dict[str, SegmentAverages]:
    """Mean predicted CLV and P(alive) per segment on ``as_of``."""
    label = func.coalesce(CustomerScore.segment, UNSEGMENTED)
    rows = session.execute(
        select(label, func.avg(CustomerScore.clv_minor), func.avg(CustomerScore.p_alive))
        .where(CustomerScore.brand_id == brand_id, CustomerScore.as_of == as_of)
        .group_by(label)
    ).all()
    return {
        str(segment): SegmentAverages(
            clv_minor=round(clv) if clv is not None else None,
            p_alive=float(p_alive) if p_alive is not None else None,
        )
        for segment, clv, p_alive in rows
    }


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
    who: CustomerFilter = field(default_factory=CustomerFilter)


def _scored_statement(
    brand_id: int, as_of: date, where: ScoreFilter
) -> Select[CustomerScore, str | None, str | None]:
    """The scores on ``as_of`` with the customer's name and e-mail, filtered by ``where``."""
    stmt = (
        select(CustomerScore, Customer.name, Customer.email)
        .join(Customer, Customer.id == CustomerScore.customer_id)
        .where(CustomerScore.brand_id == brand_id, CustomerScore.as_of == as_of)
    )
    if where.order_by != "monetary":
        stmt = stmt.where(_ORDER_COLUMNS[where.order_by].is_not(None))
    if where.segment is not None:
        if where.segment == UNSEGMENTED:
            stmt = stmt.where(CustomerScore.segment.is_(None))
        else:
            stmt = stmt.where(CustomerScore.segment == where.segment)
    stmt = stmt.where(*where.who.conditions(brand_id))
    if where.r is not None:
        stmt = stmt.where(CustomerScore.r_score == where.r)
    if where.f is not None:
        stmt = stmt.where(CustomerScore.f_score == where.f)
    if where.min_churn_risk is not None:
        stmt = stmt.where(CustomerScore.churn_risk >= where.min_churn_risk)
    return stmt


_ORDER_COLUMNS = {
    "monetary": CustomerScore.monetary_minor,
    "clv": CustomerScore.clv_minor,
    "churn": CustomerScore.churn_risk,
}


def count_scored(session: Session, *, brand_id: int, as_of: date, where: ScoreFilter) -> int:
    """How many scored customers :func:`scored_customers` would list without a limit."""
    stmt = _scored_statement(brand_id, as_of, where)
    return int(session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)


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
    order_col = _ORDER_COLUMNS[where.order_by]
    stmt = (
        _scored_statement(brand_id, as_of, where)
        .order_by(
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


def latest_scored_customers(
    session: Session, *, brand_id: int, where: ScoreFilter, limit: int, offset: int = 0
) -> tuple[date | None, list[ScoredCustomer]]:
    """The latest scoring date and its scored customers (``None, []`` before the first run)."""
    as_of = latest_as_of(session, brand_id=brand_id)
    if as_of is None:
        return None, []
    customers = scored_customers(
        session, brand_id=brand_id, as_of=as_of, where=where, limit=limit, offset=offset
    )
    return as_of, customers


def predicted_clv_values(session: Session, *, brand_id: int, as_of: date) -> list[int]:
    """Every predicted CLV (minor units) on ``as_of``, unordered."""
    return [
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


def clv_histogram(
    session: Session, *, brand_id: int, as_of: date, buckets: int = 10
) -> list[Bucket]:
    """Equal-width histogram of predicted CLV on ``as_of`` (empty if none predicted)."""
    values = predicted_clv_values(session, brand_id=brand_id, as_of=as_of)
    if not values:
        return []
    low, high = min(values), max(values)
    width = max(1, -(-(high - low + 1) // buckets))
    counts = Counter(min((v - low) // width, buckets - 1) for v in values)
    return [
        Bucket(low_minor=low + i * width, high_minor=low + (i + 1) * width, customers=counts[i])
        for i in range(buckets)
    ]


def mean_predicted_clv(session: Session, *, brand_id: int, as_of: date) -> int | None:
    """Mean predicted CLV of the scores on ``as_of`` (``None`` when none predicted)."""
    mean = session.execute(
        select(func.avg(CustomerScore.clv_minor)).where(
            CustomerScore.brand_id == brand_id, CustomerScore.as_of == as_of
        )
    ).scalar_one()
    return round(mean) if mean is not None else None
