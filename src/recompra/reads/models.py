"""What the read model answers: customers, scores, segments, KPIs, cohorts.

Shared by the API (as response bodies, inside the envelopes of
:mod:`recompra.api.schemas`) and the dashboard. Money is always integer minor units plus
an ISO currency code; rates are fractions in [0, 1]; timestamps are UTC ISO-8601.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


class CustomerSummary(BaseModel):
    """A customer in a list."""

    id: int
    name: str | None
    email: str | None
    city: str | None
    state: str | None


class Score(BaseModel):
    """A customer's scores as of a date, with their explanations."""

    as_of: date
    recency_days: int | None
    frequency: int | None
    monetary_minor: int | None
    r_score: int | None
    f_score: int | None
    m_score: int | None
    segment: str | None
    cluster: int | None
    p_alive: float | None
    expected_purchases: float | None
    expected_next_order_at: datetime | None
    clv_minor: int | None
    churn_risk: float | None
    model: str | None
    explanations: dict[str, Any]


class OrderStats(BaseModel):
    """A customer's purchase history with the brand (canceled orders excluded)."""

    orders: int
    spent_minor: int
    returned_minor: int
    first_order_at: datetime | None
    last_order_at: datetime | None


class CustomerProfile(BaseModel):
    """A customer as seen by one brand: identity, history, latest scores, points."""

    id: int
    name: str | None
    email: str | None
    phone: str | None
    city: str | None
    state: str | None
    birth_date: date | None
    currency: str
    stats: OrderStats
    score: Score | None = Field(description="Latest scores; null until analytics has run")
    points: dict[str, Any] | None = Field(
        default=None, description="Loyalty balance; null when no loyalty program runs"
    )


class SegmentPoint(BaseModel):
    """The customer's segment and key scores on one as-of date."""

    as_of: date
    segment: str | None
    r_score: int | None
    f_score: int | None
    m_score: int | None
    clv_minor: int | None
    p_alive: float | None
    churn_risk: float | None


class TimelineEntry(BaseModel):
    """One thing that happened: an order, a return, a review or an event."""

    kind: Literal["order", "return", "review", "event"]
    id: int
    at: datetime
    title: str
    amount_minor: int | None = None
    detail: dict[str, Any] = Field(default_factory=dict)


class SegmentRow(BaseModel):
    """One segment on the latest as-of date."""

    segment: str
    customers: int
    share: float
    monetary_minor: int
    avg_clv_minor: int | None
    avg_p_alive: float | None


class RfmCell(BaseModel):
    """Customers with recency score ``r`` and frequency score ``f``."""

    r: int
    f: int
    customers: int
    avg_monetary_minor: int
    segment: str | None = Field(description="The most common segment in the cell")


class ScoredCustomer(BaseModel):
    """A customer with the scores a list is ranked by."""

    id: int
    name: str | None
    email: str | None
    segment: str | None
    r_score: int | None
    f_score: int | None
    monetary_minor: int | None
    clv_minor: int | None
    p_alive: float | None
    churn_risk: float | None


class KpiPeriod(BaseModel):
    """KPIs for one calendar period, as :mod:`recompra.analytics.kpis` defines them."""

    period: str = Field(description="`YYYY-MM` for months, `YYYY` for years")
    revenue_minor: int = Field(description="Net revenue of the period's purchases")
    returns_minor: int = Field(description="Refunds of the period's purchases")
    orders: int
    customers: int = Field(description="Customers with a purchase in the period")
    new_customers: int
    returning_customers: int
    aov_minor: int | None = Field(description="Gross revenue per order")
    purchase_frequency: float | None
    retention_rate: float | None = Field(
        description="1 - churn rate: share of the customers active at the start of the "
        "period who did not reach the churn window without a purchase during it"
    )
    churn_rate: float | None
    repurchase_rate: float | None = Field(
        description="Share of customers to date with two or more purchases"
    )
    nps: float | None = Field(description="NPS proxy from reviews: %5-star − %1-3-star")
    reviews: int


class KpiRangeComparison(BaseModel):
    """KPIs of a date range and of the equal-length range just before it.

    The range ends on the analytics as-of date at the latest (``partial`` when the range
    asked for runs past it); ``previous_partial`` when the previous range starts before
    the brand's first purchase. A range without any purchase, review or lapse is ``None``.
    """

    start: date
    end: date
    previous_start: date
    previous_end: date
    partial: bool
    previous_partial: bool
    current: KpiPeriod | None
    previous: KpiPeriod | None


class KpiSummary(BaseModel):
    """Headline KPIs up to the analytics as-of date (the dashboard overview)."""

    currency: str
    revenue_minor: int = Field(description="Net revenue (purchases less refunds)")
    orders: int
    customers: int
    repurchase_rate: float | None = Field(
        description="Share of customers with two or more purchases"
    )
    retention_rate: float | None = Field(
        description="1 - churn rate (churned: no purchase within the churn window)"
    )
    aov_minor: int | None = Field(description="Gross revenue per order")
    historic_clv_minor: int | None = Field(description="Net revenue per customer to date")
    predicted_clv_minor: int | None = Field(description="Mean predicted CLV (latest scores)")
    nps: float | None
    scores_as_of: date | None
    analytics_as_of: date = Field(description="As-of date of the brand's analytics outputs")


class ClusterRow(BaseModel):
    """A customer cluster of the analytics run, described in words (pt-BR and en)."""

    cluster: int
    customers: int
    share: float
    mean_recency_days: float | None
    mean_frequency: float | None
    mean_monetary_minor: int | None
    mean_review_score: float | None
    description_pt: str
    description_en: str


class CohortRow(BaseModel):
    """One acquisition cohort: its size and the active share per month since."""

    cohort: str
    size: int
    retention: list[float]


class Bucket(BaseModel):
    """One histogram bucket ``[low, high)``."""

    low_minor: int
    high_minor: int
    customers: int
