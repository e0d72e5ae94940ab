"""Customers: search, profile with latest scores, segment history, timeline.

The hottest reads of the API: each endpoint opens its read unit of work in its body, so
a request makes one thread-pool call (a ``ReadSession`` dependency would add two: its
entry and its exit; issue 20).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from recompra.api.deps import (
    BrandScope,
    CustomerId,
    EngineDep,
    IngestBrand,
    Limit,
    Offset,
    OneHopRoute,
    ReadBrand,
    ReadSession,
    WriteSession,
)
from recompra.api.errors import AUTH_ERRORS, WRITE_ERRORS, error_responses
from recompra.api.schemas import CustomerPage, Timeline
from recompra.db import unit_of_work
from recompra.hub.customers import require_brand_customer
from recompra.hub.properties import MAX_PROPERTIES, customer_properties, write_properties
from recompra.models.base import utcnow
from recompra.privacy import audit
from recompra.reads import customers as q
from recompra.reads.loyalty import customer_points
from recompra.reads.models import CustomerProfile, SegmentPoint
from recompra.segments.live import reevaluate_properties

router = APIRouter(prefix="/v1/customers", tags=["customers"], route_class=OneHopRoute)

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


class Properties(BaseModel):
    """A customer's custom properties for the brand: name -> text, whole number or
    true/false (a date as ISO text). In a PATCH, ``null`` removes one."""

    properties: dict[str, Any] = Field(max_length=MAX_PROPERTIES)


@router.get(
    "/{customer_id}/properties",
    operation_id="customers_properties_get",
    response_model=Properties,
    responses=_ERRORS,
)
def properties_get(customer_id: CustomerId, brand: ReadBrand, session: ReadSession) -> Properties:
    """The customer's custom properties (what templates and journey waits read)."""
    require_brand_customer(session, brand_id=brand.id, customer_id=customer_id)
    return Properties(
        properties=customer_properties(session, brand_id=brand.id, customer_id=customer_id)
    )


def _write(
    customer_id: int, body: Properties, brand: BrandScope, session: Session, *, replace: bool
) -> Properties:
    now = utcnow()
    written = write_properties(
        session,
        brand_id=brand.id,
        customer_id=customer_id,
        values=body.properties,
        replace=replace,
        now=now,
    )
    # Live segments testing a changed property move with the write (or not at all).
    reevaluate_properties(session, brand.id, customer_id, written.changed, now=now)
    # In the write's unit of work: a write that rolls back leaves no entry.
    audit.record(
        session,
        actor=f"key:{brand.principal.key_id}",
        action="customer.properties_replace" if replace else "customer.properties_update",
        target=f"customer_id:{customer_id} " + ",".join(sorted(body.properties)),
        brand_id=brand.id,
    )
    return Properties(properties=written.properties)


@router.put(
    "/{customer_id}/properties",
    operation_id="customers_properties_replace",
    response_model=Properties,
    responses=WRITE_ERRORS,
)
def properties_replace(
    customer_id: CustomerId, body: Properties, brand: IngestBrand, session: WriteSession
) -> Properties:
    """Replace the customer's custom properties with these (the others are removed)."""
    return _write(customer_id, body, brand, session, replace=True)


@router.patch(
    "/{customer_id}/properties",
    operation_id="customers_properties_update",
    response_model=Properties,
    responses=WRITE_ERRORS,
)
def properties_update(
    customer_id: CustomerId, body: Properties, brand: IngestBrand, session: WriteSession
) -> Properties:
    """Set the named properties (``null`` removes one); the others stay."""
    return _write(customer_id, body, brand, session, replace=False)
