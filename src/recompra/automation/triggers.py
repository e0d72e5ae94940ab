"""Triggers: read the feeds journeys react to, each with a cursor kept in the database.

* ``orders``: new rows of the hub's ``orders`` table. The hub's write path is not ours
  to change, so orders are polled rather than pushed (a committed write wakes the
  worker at once: :mod:`recompra.automation.wakeup`).
* ``segment_events``: the append-only ``segment_membership_events``.
* ``events``: custom events posted to the API (``events``). They start ``event``
  journeys, wake runs in ``wait_for_event`` and fire ``event`` exit conditions.

These three, returns, reviews and tier changes are read by id, in commit-safe order
(:func:`recompra.automation.feeds.read_by_id`): on PostgreSQL a row whose transaction
commits late, behind a higher id already read, is still read, and read once.
* points about to expire: active loyalty lots expiring within a journey's ``days`` (no
  cursor: the run's entry key ``lot:<id>`` makes a repeated scan start nothing twice).
* order stages, returns, reviews and milestones: :mod:`recompra.automation.lifecycle`;
  score crossings, tier changes and dates: :mod:`recompra.automation.watchers`.

Reading a feed, starting runs and moving its cursor happen in one transaction; the
cursor row is locked so two workers never read the same slice.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from recompra.automation.feeds import read_by_id
from recompra.automation.lifecycle import milestones, order_stages, returns, reviews
from recompra.automation.runs import (
    ActiveJourney,
    RunStarts,
    exit_condition,
    exit_matching,
    of_kind,
    start_matching,
    start_run,
    wake_waiting,
)
from recompra.automation.service import definition_at
from recompra.automation.watchers import dates, score_crossings, tier_changes
from recompra.db.dialect import in_values
from recompra.models import Event, LoyaltyAccount, LoyaltyLot, LoyaltyProgram, Order
from recompra.models.automation import JourneyRun
from recompra.models.segments import Segment, SegmentMembershipEvent


def read_triggers(
    session: Session, journeys: list[ActiveJourney], *, now: datetime, limit: int = 1000
) -> int:
    """Consume up to ``limit`` rows of each feed; returns how many rows were read."""
    read = _orders(session, journeys, now=now, limit=limit)
    read += order_stages(session, journeys, now=now, limit=limit)
    read += returns(session, journeys, now=now, limit=limit)
    read += reviews(session, journeys, now=now, limit=limit)
    read += _segment_events(session, journeys, now=now, limit=limit)
    read += _events(session, journeys, now=now, limit=limit)
    read += tier_changes(session, journeys, now=now, limit=limit)
    read += score_crossings(session, journeys, now=now)
    read += dates(session, journeys, now=now)
    _points_expiring(session, journeys, now=now)
    return read


def _orders(session: Session, journeys: list[ActiveJourney], *, now: datetime, limit: int) -> int:
    rows = read_by_id(
        session,
        "orders",
        select(Order.id, Order.brand_id, Order.customer_id),
        limit=limit,
    )
    for order_id, brand_id, customer_id in rows:
        exit_matching(
            session,
            customer_id=customer_id,
            reason="order_placed",
            matches=exit_condition("order_placed"),
            now=now,
        )
        start_matching(
            session,
            journeys,
            brand_id=brand_id,
            kind="order_placed",
            customer_id=customer_id,
            occurrence=f"order:{order_id}",
            now=now,
            order_id=order_id,
        )
        milestones(session, journeys, brand_id=brand_id, order_id=order_id, now=now)
    return len(rows)


def _segment_events(
    session: Session, journeys: list[ActiveJourney], *, now: datetime, limit: int
) -> int:
    rows = read_by_id(
        session,
        "segment_events",
        select(
            SegmentMembershipEvent.id,
            SegmentMembershipEvent.brand_id,
            SegmentMembershipEvent.customer_id,
            SegmentMembershipEvent.type,
            Segment.key,
        ).join(Segment, Segment.id == SegmentMembershipEvent.segment_id),
        limit=limit,
    )
    for event_id, brand_id, customer_id, kind, segment in rows:
        if kind == "segment_exited":
            exit_matching(
                session,
                customer_id=customer_id,
                reason=f"segment_exited:{segment}",
                matches=exit_condition("segment_exited", segment=segment),
                now=now,
            )
        for journey in of_kind(journeys, brand_id, kind):
            if journey.document["trigger"]["segment"] == segment:
                start_run(
                    session,
                    journey,
                    customer_id=customer_id,
                    occurrence=f"segment_event:{event_id}",
                    now=now,
                )
    return len(rows)


def _events(session: Session, journeys: list[ActiveJourney], *, now: datetime, limit: int) -> int:
    rows = read_by_id(
        session,
        "events",
        select(Event.id, Event.brand_id, Event.customer_id, Event.type),
        limit=limit,
    )
    # Only a customer with an active run an event can end (its version exits on an event)
    # or wake (it waits for one) needs those looked up: read who has, once for the slice
    # (two statements per event saved for everyone else, such as customers merely inside
    # other journeys), and add those an earlier event of the slice started such a run
    # for. New runs are written together, before anything reads runs again.
    reachable = _reachable_by_events(session, journeys, [r[2] for r in rows if r[2] is not None])
    # The journeys each (brand, event type) starts, found once for the slice rather than
    # by scanning every active journey per event (a tenth of the pass's client CPU).
    started_by: dict[tuple[int, str], list[ActiveJourney]] = {}
    for journey in journeys:
        trigger = journey.document["trigger"]
        if trigger["type"] == "event":
            started_by.setdefault((journey.brand_id, trigger["event"]), []).append(journey)
    starts = RunStarts(session, now=now)
    for event_id, brand_id, customer_id, kind in rows:
        if customer_id is None:
            continue
        if customer_id in reachable:
            starts.flush()
            exit_matching(
                session,
                customer_id=customer_id,
                reason=f"event:{kind}",
                matches=exit_condition("event", event=kind),
                now=now,
            )
            wake_waiting(session, customer_id=customer_id, event=kind, now=now)
        for journey in started_by.get((brand_id, kind), ()):
            starts.add(journey, customer_id=customer_id, occurrence=f"event:{event_id}")
            # A new run waits for no event yet: its start node is decided later.
            if _exits_on_events(journey.document):
                reachable.add(customer_id)
    starts.flush()
    return len(rows)


def _exits_on_events(document: dict[str, Any]) -> bool:
    """Whether a journey version's runs end on some custom event."""
    return any(condition["type"] == "event" for condition in document["exit_when"])


def _reachable_by_events(
    session: Session, journeys: list[ActiveJourney], customer_ids: list[int]
) -> set[int]:
    """Those of ``customer_ids`` with an active run a custom event can end or wake: one
    waiting for an event, or of a version that exits on an event (two statements: the
    versions their active runs are on, then the customers; the definitions of versions
    in force come from ``journeys``, older ones are read)."""
    if not customer_ids:
        return set()
    active = and_(
        in_values(session, JourneyRun.customer_id, customer_ids), JourneyRun.state == "active"
    )
    versions = session.execute(
        select(JourneyRun.journey_id, JourneyRun.version).where(active).distinct()
    ).all()
    known = {(j.id, j.version): j.document for j in journeys}
    exiting = [
        and_(JourneyRun.journey_id == journey_id, JourneyRun.version == version)
        for journey_id, version in versions
        if _exits_on_events(
            known.get((journey_id, version)) or definition_at(session, journey_id, version)
        )
    ]
    return set(
        session.scalars(
            select(JourneyRun.customer_id)
            .where(active, or_(JourneyRun.waiting_for.is_not(None), *exiting))
            .distinct()
        )
    )


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
