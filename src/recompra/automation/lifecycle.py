"""Order lifecycle triggers: paid, shipped, delivered, canceled, returned; reviews with
their score; milestones (the nth purchase, lifetime spend crossed).

* ``order_updates``: orders as they change (a change feed, see
  :func:`recompra.automation.feeds.read_changes`: each committed transaction that
  inserts or updates an order makes it read once more, none is skipped however late it
  commits). The stage an order is in is read from its timestamps and status each time
  it changes, and each stage starts a run under the occurrence ``<stage>:<order id>``,
  so reading an order again (a later change, a re-import) starts nothing twice. A stage
  also wakes runs waiting for the event of that name (``wait_for_event:
  order_delivered``).
* ``returns``: returns and cancellations recorded by the hub (read by id, see
  :func:`recompra.automation.feeds.read_by_id`).
* ``reviews``: reviews (read by id), with the journey's score range; they also fire
  ``review_received`` exit conditions.
* milestones are decided on each new order (from the ``orders`` feed).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from recompra.automation.feeds import read_by_id, read_changes
from recompra.automation.runs import (
    ActiveJourney,
    exit_condition,
    exit_matching,
    of_kind,
    start_matching,
    wake_waiting,
)
from recompra.models import Order, Return, Review
from recompra.snapshot.schema import NON_PURCHASE_STATUSES

PAID_STATUSES = ("approved", "invoiced", "processing", "shipped", "delivered", "returned")


def stages_of(
    status: str,
    approved_at: datetime | None,
    shipped_at: datetime | None,
    delivered_at: datetime | None,
) -> list[str]:
    """The lifecycle stages an order has reached, from its status and timestamps."""
    stages = []
    if approved_at is not None or status in PAID_STATUSES:
        stages.append("order_paid")
    if shipped_at is not None or status in ("shipped", "delivered", "returned"):
        stages.append("order_shipped")
    if delivered_at is not None or status in ("delivered", "returned"):
        stages.append("order_delivered")
    if status in NON_PURCHASE_STATUSES:
        stages.append("order_canceled")
    if status == "returned":
        stages.append("order_returned")
    return stages


def _stage_reached(
    session: Session,
    journeys: list[ActiveJourney],
    *,
    stage: str,
    brand_id: int,
    customer_id: int,
    order_id: int,
    now: datetime,
) -> None:
    exit_matching(
        session,
        customer_id=customer_id,
        reason=stage,
        matches=exit_condition(stage),
        now=now,
        order_id=order_id,
    )
    wake_waiting(session, customer_id=customer_id, event=stage, now=now)
    start_matching(
        session,
        journeys,
        brand_id=brand_id,
        kind=stage,
        customer_id=customer_id,
        occurrence=f"{stage}:{order_id}",
        now=now,
        order_id=order_id,
    )


def order_stages(
    session: Session,
    journeys: list[ActiveJourney],
    *,
    now: datetime,
    limit: int,
) -> int:
    """Read changed orders; start the journeys of each stage they reached."""
    rows = read_changes(
        session,
        "order_updates",
        select(
            Order.id,
            Order.brand_id,
            Order.customer_id,
            Order.status,
            Order.approved_at,
            Order.shipped_at,
            Order.delivered_at,
        ),
        limit=limit,
    )
    for order_id, brand_id, customer_id, status, approved_at, shipped_at, delivered_at in rows:
        for stage in stages_of(status, approved_at, shipped_at, delivered_at):
            _stage_reached(
                session,
                journeys,
                stage=stage,
                brand_id=brand_id,
                customer_id=customer_id,
                order_id=order_id,
                now=now,
            )
    return len(rows)


def returns(session: Session, journeys: list[ActiveJourney], *, now: datetime, limit: int) -> int:
    """Read recorded returns and cancellations."""
    rows = read_by_id(
        session,
        "returns",
        select(Return.id, Return.kind, Order.id, Order.brand_id, Order.customer_id).join(
            Order, Order.id == Return.order_id
        ),
        limit=limit,
    )
    for _, kind, order_id, brand_id, customer_id in rows:
        stage = "order_canceled" if kind == "cancellation" else "order_returned"
        _stage_reached(
            session,
            journeys,
            stage=stage,
            brand_id=brand_id,
            customer_id=customer_id,
            order_id=order_id,
            now=now,
        )
    return len(rows)


def reviews(session: Session, journeys: list[ActiveJourney], *, now: datetime, limit: int) -> int:
    """Read new reviews: exits on ``review_received``, then ``review_received`` journeys
    whose score range holds the review's score."""
    rows = read_by_id(
        session,
        "reviews",
        select(
            Review.id,
            Review.brand_id,
            func.coalesce(Review.customer_id, Order.customer_id),
            Review.order_id,
            Review.score,
        ).outerjoin(Order, Order.id == Review.order_id),
        limit=limit,
    )
    for review_id, brand_id, customer_id, order_id, score in rows:
        if customer_id is None:
            continue
        exit_matching(
            session,
            customer_id=customer_id,
            reason="review_received",
            matches=exit_condition("review_received"),
            now=now,
        )

        def in_range(trigger: dict[str, Any], score: int = score) -> bool:
            return bool(trigger["min_score"] <= score <= trigger["max_score"])

        start_matching(
            session,
            journeys,
            brand_id=brand_id,
            kind="review_received",
            customer_id=customer_id,
            occurrence=f"review:{review_id}",
            now=now,
            order_id=order_id,
            accepts=in_range,
        )
    return len(rows)


def milestones(
    session: Session, journeys: list[ActiveJourney], *, brand_id: int, order_id: int, now: datetime
) -> int:
    """Start ``milestone`` journeys a new order reaches: the customer's nth purchase, or
    lifetime spend crossing a mark (purchases up to this order; canceled ones excluded)."""
    candidates = of_kind(journeys, brand_id, "milestone")
    if not candidates:
        return 0
    order = session.get(Order, order_id)
    if order is None or order.status in NON_PURCHASE_STATUSES:
        return 0
    count, spent = session.execute(
        select(func.count(), func.coalesce(func.sum(Order.total_minor), 0)).where(
            Order.brand_id == brand_id,
            Order.customer_id == order.customer_id,
            Order.status.not_in(NON_PURCHASE_STATUSES),
            Order.id <= order_id,
        )
    ).one()
    before = int(spent) - order.total_minor

    def reached(trigger: dict[str, Any]) -> bool:
        if "orders" in trigger:
            return bool(count == trigger["orders"])
        return bool(before < trigger["spend_minor"] <= int(spent))

    return start_matching(
        session,
        journeys,
        brand_id=brand_id,
        kind="milestone",
        customer_id=order.customer_id,
        occurrence=f"milestone:{order_id}",
        now=now,
        order_id=order_id,
        accepts=reached,
    )
