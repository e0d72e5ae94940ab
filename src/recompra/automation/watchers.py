"""Triggers on state that changes without an order: loyalty tier changes, P(alive) or
churn risk crossing a threshold between two scorings, and dates (birthdays, a date
property ± an offset).

* ``tier_changes``: ``loyalty_tier_changes`` (read by id, see
  :mod:`recompra.automation.feeds`), with the journey's ``to`` tier and direction (by
  tier rank).
* score crossings: per journey, a cursor on the last scoring date (``as_of``) it looked
  at. When the brand has a newer scoring with predictions, customers whose score
  crossed the threshold since the previous scoring start a run (occurrence
  ``<score>:<as_of>``). A journey's first look only records the latest scoring: it
  reacts to scorings made after it was applied.
* dates: per journey, a cursor on the last local day (the journey's time zone) it
  looked at; each new day starts the customers whose date (``birth_date``,
  ``created_at`` or a custom property ``property.<name>``) has its anniversary,
  moved by ``offset_days``, is that day (occurrence ``<property>:<year>``; 29 February
  is celebrated on the 28th in other years). A journey's first look covers today.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, and_, extract, func, or_, select
from sqlalchemy.orm import Session, aliased

from recompra.automation.feeds import cursor, read_by_id
from recompra.automation.runs import ActiveJourney, start_matching
from recompra.models import BrandCustomer, Customer, CustomerProperty, CustomerScore
from recompra.models.loyalty import LoyaltyAccount, LoyaltyProgram, LoyaltyTier, LoyaltyTierChange
from recompra.segments.property_rules import date_shaped, property_name

#: At most this many missed days are caught up after a pause (a worker down for a week
#: greets a week of birthdays late, not a year of them).
CATCH_UP_DAYS = 7


def tier_changes(
    session: Session, journeys: list[ActiveJourney], *, now: datetime, limit: int
) -> int:
    """Read tier changes; start ``tier_changed`` journeys whose ``to``/direction match."""
    before, after = aliased(LoyaltyTier), aliased(LoyaltyTier)
    rows = read_by_id(
        session,
        "tier_changes",
        select(
            LoyaltyTierChange.id,
            LoyaltyProgram.brand_id,
            LoyaltyAccount.customer_id,
            before.rank,
            after.rank,
            after.code,
        )
        .join(LoyaltyAccount, LoyaltyAccount.id == LoyaltyTierChange.account_id)
        .join(LoyaltyProgram, LoyaltyProgram.id == LoyaltyAccount.program_id)
        .outerjoin(before, before.id == LoyaltyTierChange.from_tier_id)
        .outerjoin(after, after.id == LoyaltyTierChange.to_tier_id),
        limit=limit,
    )
    for change_id, brand_id, customer_id, from_rank, to_rank, to_code in rows:
        # No tier ranks below every tier.
        step = (-1 if to_rank is None else to_rank) - (-1 if from_rank is None else from_rank)

        def matches(trigger: dict[str, Any], step: int = step, code: str | None = to_code) -> bool:
            direction = trigger["direction"]
            moved = direction == "any" or (step > 0 if direction == "up" else step < 0)
            return moved and trigger.get("to") in (None, code)

        start_matching(
            session,
            journeys,
            brand_id=brand_id,
            kind="tier_changed",
            customer_id=customer_id,
            occurrence=f"tier_change:{change_id}",
            now=now,
            accepts=matches,
        )
    return len(rows)


def _scorings(session: Session, brand_id: int, score: str) -> list[date]:
    """The brand's two latest scoring dates that carry ``score`` (newest first)."""
    column = getattr(CustomerScore, score)
    return list(
        session.scalars(
            select(CustomerScore.as_of)
            .where(CustomerScore.brand_id == brand_id, column.is_not(None))
            .group_by(CustomerScore.as_of)
            .order_by(CustomerScore.as_of.desc())
            .limit(2)
        )
    )


def score_crossings(session: Session, journeys: list[ActiveJourney], *, now: datetime) -> int:
    """Start ``score_crossed`` journeys for customers whose score crossed the threshold
    between the brand's previous and newest scoring."""
    started = 0
    for journey in journeys:
        trigger = journey.document["trigger"]
        if trigger["type"] != "score_crossed":
            continue
        scorings = _scorings(session, journey.brand_id, trigger["score"])
        if not scorings:
            continue
        feed = cursor(session, f"score:{journey.id}", start=scorings[0].toordinal())
        if feed is None or feed.position >= scorings[0].toordinal() or len(scorings) < 2:
            continue
        latest, previous = scorings
        now_score, then_score = aliased(CustomerScore), aliased(CustomerScore)
        threshold = float(trigger["threshold"])
        new, old = getattr(now_score, trigger["score"]), getattr(then_score, trigger["score"])
        crossed = (
            and_(new < threshold, old >= threshold)
            if trigger["direction"] == "below"
            else and_(new > threshold, old <= threshold)
        )
        customers = session.scalars(
            select(now_score.customer_id)
            .join(
                then_score,
                and_(
                    then_score.customer_id == now_score.customer_id,
                    then_score.brand_id == now_score.brand_id,
                    then_score.as_of == previous,
                ),
            )
            .where(now_score.brand_id == journey.brand_id, now_score.as_of == latest, crossed)
            .order_by(now_score.customer_id)
        ).all()
        for customer_id in customers:
            started += start_matching(
                session,
                [journey],
                brand_id=journey.brand_id,
                kind="score_crossed",
                customer_id=customer_id,
                occurrence=f"{trigger['score']}:{latest.isoformat()}",
                now=now,
            )
        feed.position = latest.toordinal()
    return started


def _anniversaries(day: date, offset_days: int) -> list[tuple[int, int]]:
    """The (month, day) pairs whose anniversary, moved by ``offset_days``, falls on ``day``."""
    target = day - timedelta(days=offset_days)
    pairs = [(target.month, target.day)]
    if (target.month, target.day) == (2, 28) and not calendar.isleap(target.year):
        pairs.append((2, 29))
    return pairs


def _born_on(brand_id: int, prop: str, pairs: list[tuple[int, int]]) -> Select[Any]:
    """The brand's customers whose date ``prop`` falls on one of the (month, day) pairs:
    a customer column, or a custom property ``property.<name>`` (ISO text ``YYYY-MM-DD...``,
    so its month and day are read from the text on every engine)."""
    name = property_name(prop)
    query = (
        select(Customer.id)
        .join(BrandCustomer, BrandCustomer.customer_id == Customer.id)
        .where(BrandCustomer.brand_id == brand_id, Customer.merged_into_id.is_(None))
    )
    if name is None:
        column = getattr(Customer, prop)
        return query.where(
            column.is_not(None),
            or_(
                *[
                    and_(extract("month", column) == month, extract("day", column) == dom)
                    for month, dom in pairs
                ]
            ),
        )
    text = CustomerProperty.text_value
    return query.join(
        CustomerProperty,
        and_(
            CustomerProperty.customer_id == Customer.id,
            CustomerProperty.brand_id == brand_id,
            CustomerProperty.name == name,
        ),
    ).where(
        date_shaped(text),
        or_(
            *[
                and_(
                    func.substr(text, 6, 2) == f"{month:02d}",
                    func.substr(text, 9, 2) == f"{dom:02d}",
                )
                for month, dom in pairs
            ]
        ),
    )


def dates(session: Session, journeys: list[ActiveJourney], *, now: datetime) -> int:
    """Start ``birthday`` and ``date_property`` journeys for each new local day."""
    started = 0
    for journey in journeys:
        trigger = journey.document["trigger"]
        if trigger["type"] not in ("birthday", "date_property"):
            continue
        today = now.astimezone(ZoneInfo(journey.document["timezone"])).date()
        feed = cursor(session, f"date:{journey.id}", start=today.toordinal() - 1)
        if feed is None or feed.position >= today.toordinal():
            continue
        prop = trigger.get("property", "birth_date")
        first = max(feed.position + 1, today.toordinal() - CATCH_UP_DAYS + 1)
        for ordinal in range(first, today.toordinal() + 1):
            day = date.fromordinal(ordinal)
            pairs = _anniversaries(day, trigger["offset_days"])
            customers = session.scalars(
                _born_on(journey.brand_id, prop, pairs).order_by(Customer.id)
            ).all()
            year = (day - timedelta(days=trigger["offset_days"])).year
            for customer_id in customers:
                started += start_matching(
                    session,
                    [journey],
                    brand_id=journey.brand_id,
                    kind=trigger["type"],
                    customer_id=customer_id,
                    occurrence=f"{prop}:{year}",
                    now=now,
                )
        feed.position = today.toordinal()
    return started
