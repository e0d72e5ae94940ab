"""Customer reads for one brand: search, profile, segment history, timeline.

A customer is visible to a brand when a ``brand_customers`` row links them; everything
else (orders, returns, reviews, events, scores) is filtered by ``brand_id`` as well, so
a customer shared by two brands shows each brand only its own history.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    Row,
    ScalarSelect,
    Select,
    bindparam,
    func,
    literal_column,
    select,
)
from sqlalchemy.orm import InstrumentedAttribute, Session

from recompra.db import PREPARED
from recompra.errors import NotFound
from recompra.models import BrandCustomer, Customer, CustomerScore, Event, Order, Return, Review
from recompra.reads.customer_search import find_customers
from recompra.reads.models import (
    CustomerProfile,
    CustomerSummary,
    OrderStats,
    Score,
    SegmentPoint,
    TimelineEntry,
)
from recompra.snapshot.schema import NON_PURCHASE_STATUSES

MAX_MERGE_HOPS = 10
T = TypeVar("T")


# The profile's statements are built once (with bind parameters) rather than per call,
# and run as Core statements on the session's connection: building a SELECT, or loading
# ORM objects, costs more CPU than running it on a one-customer read (issue 20).
#: The customer's identity, the merge to follow, and whether ``:brand_id`` sees them.
_VISIBLE = (
    select(
        Customer.id,
        Customer.name,
        Customer.email,
        Customer.phone,
        Customer.city,
        Customer.state,
        Customer.birth_date,
        Customer.merged_into_id,
        BrandCustomer.customer_id.is_not(None).label("linked"),
    )
    .outerjoin(
        BrandCustomer,
        (BrandCustomer.customer_id == Customer.id)
        & (BrandCustomer.brand_id == bindparam("brand_id")),
    )
    .where(Customer.id == bindparam("customer_id"))
)


def _visible_row(
    session: Session,
    *,
    brand_id: int,
    customer_id: int,
    statement: Select[*tuple[Any, ...]] = _VISIBLE,
) -> Row[*tuple[Any, ...]]:
    """The customer's row of ``statement`` (keyed by ``:customer_id``, following merges
    to the survivor) if the brand can see them: one statement, and one more per merge
    hop."""
    connection = session.connection()
    row = connection.execute(statement, {"brand_id": brand_id, "customer_id": customer_id}).first()
    hops = 0
    while row is not None and row.merged_into_id is not None and hops < MAX_MERGE_HOPS:
        params = {"brand_id": brand_id, "customer_id": row.merged_into_id}
        row = connection.execute(statement, params).first()
        hops += 1
    if row is None or not row.linked:
        raise NotFound(f"customer {customer_id} not found", field="customer_id")
    return row


def visible_customer(session: Session, *, brand_id: int, customer_id: int) -> Customer:
    """The customer (following merges to the survivor) if the brand can see them."""
    row = _visible_row(session, brand_id=brand_id, customer_id=customer_id)
    customer = session.get(Customer, row.id)
    if customer is None:  # removed between the two statements
        raise NotFound(f"customer {customer_id} not found", field="customer_id")
    return customer


def search_customers(
    session: Session, *, brand_id: int, q: str | None, limit: int, offset: int
) -> list[CustomerSummary]:
    """Customers of the brand matching ``q`` (see :mod:`recompra.reads.customer_search`)."""
    found = find_customers(session, brand_id=brand_id, q=q, sort="id", limit=limit, offset=offset)
    return found.items


def _score(row: CustomerScore | Row[*tuple[Any, ...]]) -> Score:
    return Score(
        as_of=row.as_of,
        recency_days=row.recency_days,
        frequency=row.frequency,
        monetary_minor=row.monetary_minor,
        r_score=row.r_score,
        f_score=row.f_score,
        m_score=row.m_score,
        segment=row.segment,
        cluster=row.cluster,
        p_alive=row.p_alive,
        expected_purchases=row.expected_purchases,
        expected_next_order_at=row.expected_next_order_at,
        clv_minor=row.clv_minor,
        churn_risk=row.churn_risk,
        model=row.model,
        explanations=row.explanations or {},
    )


# MIN/MAX keep the column's UTCDateTime type, so both backends return aware UTC.
# The statuses are inlined as constants: a Python list would be an "expanding" parameter,
# whose SQL is re-rendered on every execution.
_PURCHASES = (
    (Order.brand_id == bindparam("brand_id"))
    & (Order.customer_id == Customer.id)
    & Order.status.not_in([literal_column(f"'{status}'") for status in NON_PURCHASE_STATUSES])
)


def _of_purchases(aggregate: ColumnElement[T]) -> ScalarSelect[T]:
    return select(aggregate).where(_PURCHASES).correlate(Customer).scalar_subquery()


#: The newest score row of the customer for the brand.
_LATEST_SCORE_ID = (
    select(CustomerScore.id)
    .where(
        CustomerScore.brand_id == bindparam("brand_id"), CustomerScore.customer_id == Customer.id
    )
    .order_by(CustomerScore.as_of.desc())
    .limit(1)
    .correlate(Customer)
    .scalar_subquery()
)
_SCORE_FIELDS = [
    column for column in CustomerScore.__table__.c if column.name in Score.model_fields
]
#: The whole profile in one statement (identity and brand link, purchase stats, latest
#: score): each statement costs more CPU to run through the driver than these indexed
#: subqueries cost SQLite or PostgreSQL (issue 20). The returns are reached through the
#: customer's orders of the brand (a return carries its order's brand, hub/returns.py):
#: a condition on ``returns.brand_id`` made SQLite scan every return of the brand.
_PROFILE = _VISIBLE.add_columns(
    _of_purchases(func.count(Order.id)).label("orders"),
    _of_purchases(func.coalesce(func.sum(Order.total_minor), 0)).label("spent_minor"),
    _of_purchases(func.min(Order.purchased_at)).label("first_order_at"),
    _of_purchases(func.max(Order.purchased_at)).label("last_order_at"),
    select(func.coalesce(func.sum(Return.amount_minor), 0))
    .select_from(Order)
    .join(Return, Return.order_id == Order.id)
    .where(Order.brand_id == bindparam("brand_id"), Order.customer_id == Customer.id)
    .correlate(Customer)
    .scalar_subquery()
    .label("returned_minor"),
    CustomerScore.id.label("score_id"),
    *_SCORE_FIELDS,
).outerjoin(CustomerScore, CustomerScore.id == _LATEST_SCORE_ID)
# Prepared on PostgreSQL's side: planning it cost the backend 0.8 ms a read, running it
# 0.13 ms (docs/api.md, "Request path cost").
_PROFILE = _PROFILE.execution_options(**PREPARED)


def customer_profile(
    session: Session, *, brand_id: int, currency: str, customer_id: int
) -> CustomerProfile:
    """Identity, purchase stats and latest scores of a customer visible to the brand."""
    row = _visible_row(session, brand_id=brand_id, customer_id=customer_id, statement=_PROFILE)
    return CustomerProfile(
        id=row.id,
        name=row.name,
        email=row.email,
        phone=row.phone,
        city=row.city,
        state=row.state,
        birth_date=row.birth_date,
        currency=currency,
        stats=OrderStats(
            orders=int(row.orders),
            spent_minor=int(row.spent_minor),
            returned_minor=int(row.returned_minor),
            first_order_at=row.first_order_at,
            last_order_at=row.last_order_at,
        ),
        score=_score(row) if row.score_id is not None else None,
    )


def segment_history(session: Session, *, brand_id: int, customer_id: int) -> list[SegmentPoint]:
    """The customer's segment per as-of date, oldest first."""
    customer = _visible_row(session, brand_id=brand_id, customer_id=customer_id)
    rows = session.execute(
        select(CustomerScore)
        .where(CustomerScore.brand_id == brand_id, CustomerScore.customer_id == customer.id)
        .order_by(CustomerScore.as_of)
    ).scalars()
    return [
        SegmentPoint(
            as_of=r.as_of,
            segment=r.segment,
            r_score=r.r_score,
            f_score=r.f_score,
            m_score=r.m_score,
            clv_minor=r.clv_minor,
            p_alive=r.p_alive,
            churn_risk=r.churn_risk,
        )
        for r in rows
    ]


def _newest(
    session: Session, stmt: Select[T], at: InstrumentedAttribute[datetime], limit: int
) -> Sequence[T]:
    """The ``limit`` newest rows of ``stmt`` by the timestamp ``at``."""
    return session.execute(stmt.order_by(at.desc()).limit(limit)).scalars().all()


def timeline(
    session: Session, *, brand_id: int, customer_id: int, limit: int
) -> list[TimelineEntry]:
    """Orders, returns, reviews and events of the customer with the brand, newest first."""
    cid = _visible_row(session, brand_id=brand_id, customer_id=customer_id).id
    orders = select(Order).where(Order.brand_id == brand_id, Order.customer_id == cid)
    # Reached through the customer's orders of the brand, as the profile does (a return
    # carries its order's brand): a condition on ``returns.brand_id`` walks every return
    # of the brand.
    returns = (
        select(Return)
        .join(Order, Order.id == Return.order_id)
        .where(Order.brand_id == brand_id, Order.customer_id == cid)
    )
    reviews = select(Review).where(Review.brand_id == brand_id, Review.customer_id == cid)
    events = select(Event).where(Event.brand_id == brand_id, Event.customer_id == cid)
    entries = [
        *(
            TimelineEntry(
                kind="order",
                id=order.id,
                at=order.purchased_at,
                title=f"order {order.external_id}",
                amount_minor=order.total_minor,
                detail={"status": order.status, "external_id": order.external_id},
            )
            for order in _newest(session, orders, Order.purchased_at, limit)
        ),
        *(
            TimelineEntry(
                kind="return",
                id=ret.id,
                at=ret.created_at,
                title=ret.kind,
                amount_minor=ret.amount_minor,
                detail={"reason": ret.reason, "order_id": ret.order_id},
            )
            for ret in _newest(session, returns, Return.created_at, limit)
        ),
        *(
            TimelineEntry(
                kind="review",
                id=review.id,
                at=review.created_at,
                title=review.title or f"{review.score}/5",
                detail={"score": review.score, "comment": review.comment},
            )
            for review in _newest(session, reviews, Review.created_at, limit)
        ),
        *(
            TimelineEntry(
                kind="event",
                id=event.id,
                at=event.occurred_at,
                title=event.type,
                detail=event.payload or {},
            )
            for event in _newest(session, events, Event.occurred_at, limit)
        ),
    ]
    entries.sort(key=lambda e: (e.at, e.kind, e.id), reverse=True)
    return entries[:limit]
