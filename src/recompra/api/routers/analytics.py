"""Segments, the RFM grid, CLV and churn lists, KPIs by period and cohorts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from sqlalchemy.orm import Session

from recompra.analytics import SegmentKey
from recompra.api.deps import BrandScope, Limit, Offset, OneHopRoute, ReadBrand, ReadSession
from recompra.api.errors import AUTH_ERRORS, error_responses
from recompra.api.schemas import (
    ClvDistribution,
    Cohorts,
    Kpis,
    RfmGrid,
    ScoredCustomers,
    Segments,
)
from recompra.errors import InvalidInput
from recompra.reads import kpis as k
from recompra.reads import scores as sq
from recompra.reads.models import KpiSummary

router = APIRouter(prefix="/v1", tags=["analytics"], route_class=OneHopRoute)

_ERRORS = error_responses(400, *AUTH_ERRORS, 404)
#: KPIs, segments and cohorts answer 409 ``not_analysed`` until ``recompra analyze`` ran.
_ANALYTICS_ERRORS = error_responses(400, *AUTH_ERRORS, 404, 409)
Score = Annotated[int | None, Query(ge=1, le=5)]
SEGMENT_FILTERS = [*(key.value for key in SegmentKey), sq.UNSEGMENTED]


@router.get(
    "/segments", operation_id="segments_list", response_model=Segments, responses=_ANALYTICS_ERRORS
)
def segments(request: Request, brand: ReadBrand, session: ReadSession) -> Segments:
    """Customers and value per segment, from the brand's analytics outputs."""
    as_of, items = k.segments(session, home=_home(request), brand_id=brand.id)
    return Segments(
        as_of=as_of,
        currency=brand.currency,
        total_customers=sum(s.customers for s in items),
        items=items,
    )


def _scored(
    session: Session, brand: BrandScope, *, where: sq.ScoreFilter, limit: int, offset: int
) -> ScoredCustomers:
    """A ranked list on the brand's latest scoring date (empty before the first run)."""
    as_of, items = sq.latest_scored_customers(
        session, brand_id=brand.id, where=where, limit=limit, offset=offset
    )
    return ScoredCustomers(as_of=as_of, currency=brand.currency, items=items)


def _home(request: Request) -> Path:
    home: Path = request.app.state.settings.home
    return home


@router.get(
    "/segments/customers",
    operation_id="segments_customers",
    response_model=ScoredCustomers,
    responses=_ERRORS,
)
def segment_customers(
    brand: ReadBrand,
    session: ReadSession,
    segment: Annotated[
        str | None,
        Query(
            max_length=64,
            description="A segment key of the analytics, or `unsegmented`",
            json_schema_extra={"enum": SEGMENT_FILTERS},
        ),
    ] = None,
    r: Score = None,
    f: Score = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> ScoredCustomers:
    """Customers of a segment or of an RFM cell (``r``, ``f``), by monetary value."""
    if segment is not None and segment not in SEGMENT_FILTERS:
        # A retyped key ("cant_lose") would otherwise answer an empty list, silently.
        raise InvalidInput(
            f"unknown segment {segment!r}; one of {', '.join(SEGMENT_FILTERS)}", field="segment"
        )
    where = sq.ScoreFilter(segment=segment, r=r, f=f)
    return _scored(session, brand, where=where, limit=limit, offset=offset)


@router.get("/rfm", operation_id="rfm_grid", response_model=RfmGrid, responses=_ERRORS)
def rfm(brand: ReadBrand, session: ReadSession) -> RfmGrid:
    """Customers per (recency, frequency) score cell on the latest scoring date."""
    as_of = sq.latest_as_of(session, brand_id=brand.id)
    cells = sq.rfm_grid(session, brand_id=brand.id, as_of=as_of) if as_of else []
    return RfmGrid(as_of=as_of, cells=cells)


@router.get(
    "/scores/clv", operation_id="scores_clv", response_model=ScoredCustomers, responses=_ERRORS
)
def clv(
    brand: ReadBrand, session: ReadSession, limit: Limit = 50, offset: Offset = 0
) -> ScoredCustomers:
    """Customers ranked by predicted CLV (highest first)."""
    where = sq.ScoreFilter(order_by="clv")
    return _scored(session, brand, where=where, limit=limit, offset=offset)


@router.get(
    "/scores/clv/distribution",
    operation_id="scores_clv_distribution",
    response_model=ClvDistribution,
    responses=_ERRORS,
)
def clv_distribution(brand: ReadBrand, session: ReadSession) -> ClvDistribution:
    """Histogram of predicted CLV on the latest scoring date."""
    as_of = sq.latest_as_of(session, brand_id=brand.id)
    buckets = sq.clv_histogram(session, brand_id=brand.id, as_of=as_of) if as_of else []
    return ClvDistribution(as_of=as_of, currency=brand.currency, buckets=buckets)


@router.get(
    "/scores/churn", operation_id="scores_churn", response_model=ScoredCustomers, responses=_ERRORS
)
def churn(
    brand: ReadBrand,
    session: ReadSession,
    min_risk: Annotated[float | None, Query(ge=0, le=1)] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> ScoredCustomers:
    """Customers ranked by churn risk (highest first)."""
    where = sq.ScoreFilter(order_by="churn", min_churn_risk=min_risk)
    return _scored(session, brand, where=where, limit=limit, offset=offset)


@router.get(
    "/kpis", operation_id="kpis_by_period", response_model=Kpis, responses=_ANALYTICS_ERRORS
)
def kpis(
    request: Request,
    brand: ReadBrand,
    session: ReadSession,
    period: Annotated[Literal["month", "year"], Query()] = "month",
) -> Kpis:
    """Revenue, orders, buyers, retention, repurchase and NPS proxy per period."""
    items = k.kpis_by_period(session, home=_home(request), brand_id=brand.id, granularity=period)
    return Kpis(granularity=period, currency=brand.currency, items=items)


@router.get(
    "/kpis/summary",
    operation_id="kpis_summary",
    response_model=KpiSummary,
    responses=_ANALYTICS_ERRORS,
)
def kpi_summary(request: Request, brand: ReadBrand, session: ReadSession) -> KpiSummary:
    """Headline KPIs up to the analytics as-of date."""
    return k.kpi_summary(session, home=_home(request), brand_id=brand.id, currency=brand.currency)


@router.get(
    "/cohorts",
    operation_id="cohorts_retention",
    response_model=Cohorts,
    responses=_ANALYTICS_ERRORS,
)
def cohorts(
    request: Request,
    brand: ReadBrand,
    session: ReadSession,
    months: Annotated[int, Query(ge=1, le=36)] = 12,
) -> Cohorts:
    """Monthly acquisition cohorts and the share of each buying again month by month."""
    items = k.cohorts(session, home=_home(request), brand_id=brand.id, max_months=months)
    return Cohorts(items=items)
