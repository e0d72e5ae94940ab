"""Customers: search, profile with latest scores, segment history, timeline.

The hottest reads of the API: each endpoint opens its read unit of work in its body, so
a request makes one thread-pool call (a ``ReadSession`` dependency would add two: its
entry and its exit; issue 20).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from recompra.api.deps import CustomerId, EngineDep, Limit, Offset, ReadBrand
from recompra.api.errors import AUTH_ERRORS, error_responses
from recompra.api.schemas import CustomerPage, Timeline
from recompra.db import unit_of_work
from recompra.reads import customers as q
from recompra.reads.loyalty import customer_points
from recompra.reads.models import CustomerProfile, SegmentPoint

router = APIRouter(prefix="/v1/customers", tags=["customers"])

_ERRORS = error_responses(400, *AUTH_ERRORS, 404)


@router.get("", operation_id="customers_search", response_model=CustomerPage, responses=_ERRORS)
def search(
    brand: ReadBrand,
    engine: EngineDep,
    q_: Annotated[
        str | None, Query(alias="q", max_length=200, description="Name, e-mail or id")
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> CustomerPage:
    """Find the brand's customers by name, e-mail or id."""
    with unit_of_work(engine, write=False) as session:
        items = q.search_customers(session, brand_id=brand.id, q=q_, limit=limit, offset=offset)
    return CustomerPage(items=items, limit=limit, offset=offset)


@router.get(
    "/{customer_id}",
    operation_id="customers_get",
    response_model=CustomerProfile,
    responses=_ERRORS,
)
def get_profile(customer_id: CustomerId, brand: ReadBrand, engine: EngineDep) -> CustomerProfile:
    """A customer's profile: purchase stats, latest scores with explanations, points."""
    with unit_of_work(engine, write=False) as session:
        profile = q.customer_profile(
            session, brand_id=brand.id, currency=brand.currency, customer_id=customer_id
        )
        profile.points = customer_points(session, brand_id=brand.id, customer_id=profile.id)
    return profile


@router.get(
    "/{customer_id}/segments",
    operation_id="customers_segment_history",
    response_model=list[SegmentPoint],
    responses=_ERRORS,
)
def segment_history(
    customer_id: CustomerId, brand: ReadBrand, engine: EngineDep
) -> list[SegmentPoint]:
    """The customer's segment and scores on every as-of date, oldest first."""
    with unit_of_work(engine, write=False) as session:
        return q.segment_history(session, brand_id=brand.id, customer_id=customer_id)


@router.get(
    "/{customer_id}/timeline",
    operation_id="customers_timeline",
    response_model=Timeline,
    responses=_ERRORS,
)
def timeline(
    customer_id: CustomerId, brand: ReadBrand, engine: EngineDep, limit: Limit = 100
) -> Timeline:
    """Orders, returns, reviews and events of the customer, newest first."""
    with unit_of_work(engine, write=False) as session:
        items = q.timeline(session, brand_id=brand.id, customer_id=customer_id, limit=limit)
    return Timeline(items=items)
