"""Response envelopes of the API; the rows inside them are :mod:`recompra.reads.models`.

Money is always integer minor units plus an ISO currency code; rates are fractions
in [0, 1]; timestamps are UTC ISO-8601.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, Field

from recompra.reads.models import (
    Bucket,
    CohortRow,
    CustomerSummary,
    KpiPeriod,
    RfmCell,
    ScoredCustomer,
    SegmentRow,
    TimelineEntry,
)


class Health(BaseModel):
    """Liveness and database reachability."""

    status: Literal["ok"]
    database: Literal["ok"]
    version: str


class CustomerPage(BaseModel):
    """One page of customers."""

    items: list[CustomerSummary]
    limit: int
    offset: int


class Timeline(BaseModel):
    """A customer's timeline, newest first."""

    items: list[TimelineEntry]


class Segments(BaseModel):
    """Segment sizes and value from the brand's analytics outputs."""

    as_of: date = Field(description="Latest scoring date, else the analytics as-of date")
    currency: str
    total_customers: int
    items: list[SegmentRow]


class RfmGrid(BaseModel):
    """The R x F grid on the latest as-of date."""

    as_of: date | None
    cells: list[RfmCell]


class ScoredCustomers(BaseModel):
    """A ranked list of scored customers on the latest as-of date."""

    as_of: date | None
    currency: str
    items: list[ScoredCustomer]


class Kpis(BaseModel):
    """KPIs per period."""

    granularity: Literal["month", "year"]
    currency: str
    items: list[KpiPeriod]


class Cohorts(BaseModel):
    """Monthly cohort retention (month 0 is 1.0)."""

    items: list[CohortRow]


class ClvDistribution(BaseModel):
    """Histogram of predicted CLV on the latest as-of date."""

    as_of: date | None
    currency: str
    buckets: list[Bucket]
