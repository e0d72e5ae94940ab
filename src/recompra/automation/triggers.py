"""Triggers: read the feeds journeys react to, each with a cursor kept in the database.

* ``orders``: new rows of the hub's ``orders`` table (cursor on ``id``). The hub's write
  path is not ours to change, so orders are polled rather than pushed. On SQLite ids
  commit in order; on PostgreSQL a transaction that took a lower id may commit after a
  higher one was read, so only orders older than :data:`SETTLE_SECONDS` are read (a
  mitigation, not a proof: a writer that stays open longer can still be skipped).
* ``segment_events``: the append-only ``segment_membership_events`` (cursor on ``id``).
* ``events``: custom events posted to the API (``events``; cursor on ``id``). They start
  ``event`` journeys, wake runs in ``wait_for_event`` and fire ``event`` exit conditions.
* points about to expire: active loyalty lots expiring within a journey's ``days`` (no
  cursor: the run's entry key ``lot:<id>`` makes a repeated scan start nothing twice).

Reading a feed, starting runs and moving its cursor happen in one transaction; the
cursor row is locked so two workers never read the same slice.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from recompra.automation.runs import ActiveJourney, exit_matching, start_run, wake_waiting
from recompra.db.dialect import insert_ignoring_conflicts
from recompra.models import Event, LoyaltyAccount, LoyaltyLot, LoyaltyProgram, Order
from recompra.models.automation import CURSORS, FeedCursor
from recompra.models.segments import Segment, SegmentMembershipEvent

FEEDS = ("orders", "segment_events", "events")
#: Orders younger than this are left for the next poll, so that on PostgreSQL an order
#: whose transaction committed late (holding a lower id) is still read. SQLite ids
#: commit in order; the delay only postpones by a few seconds.
SETTLE_SECONDS = 2.0


def feed_cursor(session: Session, feed: str) -> FeedCursor | None:
    """The feed's cursor row, locked; ``None`` when another worker holds it."""
    session.execute(
        insert_ignoring_conflicts(session, CURSORS, index_elements=("feed",)),
        {"feed": feed, "position": 0},
    )
    return session.scalar(
        select(FeedCursor).where(FeedCursor.feed == feed).with_for_update(skip_locked=True)
    )


def read_triggers(
    session: Session, journeys: list[ActiveJourney], *, now: datetime, limit: int = 1000
) -> int:
    """Consume up to ``limit`` rows of each feed; returns how many rows were read."""
    read = _orders(session, journeys, now=now, limit=limit)
    read += _segment_events(session, journeys, now=now, limit=limit)
    read += _events(session, journeys, now=now, limit=limit)
    _points_expiring(session, journeys, now=now)
    return read


def _exit_condition(kind: str, **fields: str) -> Callable[[dict[str, Any]], bool]:
    """A test of a journey's exit condition against what just happened."""

    def matches(condition: dict[str, Any]) -> bool:
        return condition["type"] == kind and all(condition.get(k) == v for k, v in fields.items())

    return matches


def unsettled_orders(session: Session) -> bool:
    """Whether orders past the cursor wait for :data:`SETTLE_SECONDS` to be read."""
    position = session.scalar(select(FeedCursor.position).where(FeedCursor.feed == "orders"))
    return session.scalar(select(Order.id).where(Order.id > (position or 0)).limit(1)) is not None


def _of_brand(journeys: list[ActiveJourney], brand_id: int, kind: str) -> list[ActiveJourney]:
    return [j for j in journeys if j.brand_id == brand_id and j.document["trigger"]["type"] == kind]


def _orders(session: Session, journeys: list[ActiveJourney], *, now: datetime, limit: int) -> int:
    cursor = feed_cursor(session, "orders")
    if cursor is None:
        return 0
    rows = session.execute(
        select(Order.id, Order.brand_id, Order.customer_id)
        .where(
            Order.id > cursor.position, Order.created_at <= now - timedelta(seconds=SETTLE_SECONDS)
        )
        .order_by(Order.id)
        .limit(limit)
    ).all()
    for order_id, brand_id, customer_id in rows:
        exit_matching(
            session,
            customer_id=customer_id,
            reason="order_placed",
            matches=_exit_condition("order_placed"),
            now=now,
        )
        for journey in _of_brand(journeys, brand_id, "order_placed"):
            start_run(
                session,
                journey,
                customer_id=customer_id,
                occurrence=f"order:{order_id}",
                now=now,
                order_id=order_id,
            )
    if rows:
        cursor.position = rows[-1][0]
    return len(rows)


def _segment_events(
    session: Session, journeys: list[ActiveJourney], *, now: datetime, limit: int
) -> int:
    cursor = feed_cursor(session, "segment_events")
    if cursor is None:
        return 0
    rows = session.execute(
        select(
            SegmentMembershipEvent.id,
            SegmentMembershipEvent.brand_id,
            SegmentMembershipEvent.customer_id,
            SegmentMembershipEvent.type,
            Segment.key,
        )
        .join(Segment, Segment.id == SegmentMembershipEvent.segment_id)
        .where(SegmentMembershipEvent.id > cursor.position)
        .order_by(SegmentMembershipEvent.id)
        .limit(limit)
    ).all()
    for event_id, brand_id, customer_id, kind, segment in rows:
        if kind == "segment_exited":
            exit_matching(
                session,
                customer_id=customer_id,
                reason=f"segment_exited:{segment}",
                matches=_exit_condition("segment_exited", segment=segment),
                now=now,
            )
        for journey in _of_brand(journeys, brand_id, kind):
            if journey.document["trigger"]["segment"] == segment:
                start_run(
                    session,
                    journey,
                    customer_id=customer_id,
                    occurrence=f"segment_event:{event_id}",
                    now=now,
                )
    if rows:
        cursor.position = rows[-1][0]
    return len(rows)


def _events(session: Session, journeys: list[ActiveJourney], *, now: datetime, limit: int) -> int:
    cursor = feed_cursor(session, "events")
    if cursor is None:
        return 0
    rows = session.execute(
        select(Event.id, Event.brand_id, Event.customer_id, Event.type)
        .where(Event.id > cursor.position)
        .order_by(Event.id)
        .limit(limit)
    ).all()
    for event_id, brand_id, customer_id, kind in rows:
        if customer_id is None:
            continue
        exit_matching(
            session,
            customer_id=customer_id,
            reason=f"event:{kind}",
            matches=_exit_condition("event", event=kind),
            now=now,
        )
        wake_waiting(session, customer_id=customer_id, event=kind, now=now)
        for journey in _of_brand(journeys, brand_id, "event"):
            if journey.document["trigger"]["event"] == kind:
                start_run(
                    session,
                    journey,
                    customer_id=customer_id,
                    occurrence=f"event:{event_id}",
                    now=now,
                )
    if rows:
        cursor.position = rows[-1][0]
    return len(rows)


def _points_expiring(session: Session, journeys: list[ActiveJourney], *, now: datetime) -> None:
    for journey in journeys:
        trigger: dict[str, Any] = journey.document["trigger"]
        if trigger["type"] != "points_expiring":
            continue
        lots = session.execute(
            select(LoyaltyLot.id, LoyaltyAccount.customer_id)
            .join(LoyaltyAccount, LoyaltyAccount.id == LoyaltyLot.account_id)
            .join(LoyaltyProgram, LoyaltyProgram.id == LoyaltyAccount.program_id)
            .where(
                LoyaltyProgram.brand_id == journey.brand_id,
                LoyaltyLot.state == "active",
                LoyaltyLot.remaining > 0,
                LoyaltyLot.expires_at > now,
                LoyaltyLot.expires_at <= now + timedelta(days=int(trigger["days"])),
            )
        ).all()
        for lot_id, customer_id in lots:
            start_run(
                session, journey, customer_id=customer_id, occurrence=f"lot:{lot_id}", now=now
            )
