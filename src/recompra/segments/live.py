"""Keeping memberships live: after a write, re-evaluate the customers it touched.

Every way in that writes one customer's data in a request (API ingest, loyalty
movements, custom properties) calls :func:`reevaluate_written` in the same unit of work, so the
``segment_entered``/``segment_exited`` events commit with the write that caused them
or not at all. Bulk ways in (file imports, analytics and prediction runs) re-evaluate
every segment afterwards instead (:func:`recompra.segments.flows.evaluate_all`): one
query per batch of segments beats one per customer.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from recompra.db.dialect import in_values
from recompra.models import Order
from recompra.models.aftersale import Event, Return, Review
from recompra.segments.compile import LOYALTY_FIELDS
from recompra.segments.property_rules import field_of
from recompra.segments.service import Diff, reevaluate_customers, reevaluation_due

#: The only fields a write of these kinds can change. A review or an event names an
#: existing customer and touches nothing else; loyalty movements change the account and
#: its lots. Customers and orders are absent: they can create the customer, or link it to
#: the brand, which can change any segment (``not`` conditions hold for a newcomer), and
#: returns can change an order's net value, purchases and more; those always re-evaluate.
WRITE_FIELDS: dict[str, frozenset[str]] = {
    "reviews": frozenset({"review_score"}),
    "events": frozenset({"event_count"}),
    "loyalty": frozenset(LOYALTY_FIELDS),
}


def customers_touched(session: Session, entity: str, ids: Sequence[int | None]) -> list[int]:
    """The customers whose data the stored rows ``ids`` of ``entity`` belong to.

    ``entity`` is the ingest entity (customers, orders, returns, reviews, events);
    rejected records (``None``) and rows with no known customer are skipped.
    """
    stored = sorted({i for i in ids if i is not None})
    if not stored:
        return []
    if entity == "customers":
        return stored
    query: Select[Any]
    if entity == "orders":
        query = select(Order.customer_id).where(Order.id.in_(stored))
    elif entity == "returns":
        query = select(Order.customer_id).join(Return, Return.order_id == Order.id)
        query = query.where(Return.id.in_(stored))
    elif entity == "reviews":
        # A review names its customer, or only its order.
        query = (
            select(func.coalesce(Review.customer_id, Order.customer_id))
            .outerjoin(Order, Order.id == Review.order_id)
            .where(Review.id.in_(stored))
        )
    elif entity == "events":
        query = select(Event.customer_id).where(in_values(session, Event.id, stored))
    else:
        raise ValueError(f"unknown ingest entity {entity!r}")
    return sorted({c for c in session.scalars(query) if c is not None})


def reevaluate_written(
    session: Session,
    brand_id: int,
    entity: str,
    ids: Sequence[int | None],
    *,
    now: datetime | None = None,
) -> dict[str, Diff]:
    """Re-evaluate the active segments of the brand for the customers the write touched
    (nothing to do when no active segment tests a field the write can change)."""
    return reevaluate_customers(
        session,
        brand_id,
        customers_touched(session, entity, ids),
        now=now,
        changed=WRITE_FIELDS.get(entity),
    )


def reevaluate_loyalty(
    session: Session, brand_id: int, customer_ids: Sequence[int], *, now: datetime | None = None
) -> dict[str, Diff]:
    """Re-evaluate the customers a loyalty movement touched, when an active segment of the
    brand tests a loyalty field (a points balance, a tier...); otherwise nothing moves."""
    return reevaluate_customers(
        session, brand_id, customer_ids, now=now, changed=WRITE_FIELDS["loyalty"]
    )


def loyalty_reevaluation_due(session: Session, brand_id: int) -> bool:
    """Whether :func:`reevaluate_loyalty` would evaluate anyone for the brand now: an
    active segment tests a loyalty field. A write that finds none may commit its loyalty
    movement alone (the API's earn does, in one call: docs/api.md)."""
    return reevaluation_due(session, brand_id, WRITE_FIELDS["loyalty"])


def reevaluate_properties(
    session: Session, brand_id: int, customer_id: int, names: Collection[str], *, now: datetime
) -> dict[str, Diff]:
    """Re-evaluate a customer whose properties ``names`` changed, when an active segment of
    the brand tests one of them (``property.<name>``); otherwise nothing moves.

    Every property write calls it after :mod:`recompra.hub.properties` (which lies below
    segments) in the same unit of work: the API's PUT and PATCH, a journey's
    ``update_property`` node."""
    return reevaluate_customers(
        session, brand_id, [customer_id], now=now, changed=frozenset(map(field_of, names))
    )
