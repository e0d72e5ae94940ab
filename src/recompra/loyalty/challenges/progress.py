"""A customer's progress on a challenge ("2 of 3"), recomputed from the stored facts.

Progress is never cached: it is counted from orders, order items, reviews, custom events,
quiz attempts and referrals each time, so it can always be recomputed after a late
import, a merge or a cancellation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

from recompra.loyalty.challenges.periods import month_start, period_bounds, period_key
from recompra.loyalty.rules.engine import NON_EARNING_STATUSES
from recompra.models.aftersale import Event, Review
from recompra.models.catalog import Category, Product
from recompra.models.engagement import (
    EngagementChallenge,
    EngagementQuiz,
    EngagementQuizAttempt,
    EngagementReferral,
)
from recompra.models.order import Order, OrderItem


@dataclass(frozen=True)
class Progress:
    """Where a customer stands on one challenge in the current period."""

    challenge_id: int
    code: str
    name: str
    kind: str
    period_key: str
    current: int
    target: int
    reward_points: int
    complete: bool


def progress_of(
    session: Session,
    *,
    challenge: EngagementChallenge,
    brand_id: int,
    customer_id: int,
    now: datetime,
) -> Progress:
    """The customer's progress on ``challenge`` in the period containing ``now``."""
    if challenge.kind == "streak":
        current = min(
            challenge.target,
            streak_months(session, brand_id=brand_id, customer_id=customer_id, now=now),
        )
    else:
        start, end = period_bounds(challenge.period, now)
        if challenge.starts_at is not None:
            start = max(start, challenge.starts_at)
        if challenge.ends_at is not None:
            end = min(end, challenge.ends_at)
        count = _count(
            session,
            challenge=challenge,
            brand_id=brand_id,
            customer_id=customer_id,
            start=start,
            end=min(end, now),
        )
        current = min(challenge.target, count)
    return Progress(
        challenge_id=challenge.id,
        code=challenge.code,
        name=challenge.name,
        kind=challenge.kind,
        period_key=period_key(challenge.period, now),
        current=current,
        target=challenge.target,
        reward_points=challenge.reward_points,
        complete=current >= challenge.target,
    )


def _counting_orders(brand_id: int, customer_id: int) -> list[ColumnElement[bool]]:
    """The customer's orders in the brand that count (cancelled ones do not)."""
    return [
        Order.brand_id == brand_id,
        Order.customer_id == customer_id,
        Order.status.not_in(NON_EARNING_STATUSES),
    ]


def _count(
    session: Session,
    *,
    challenge: EngagementChallenge,
    brand_id: int,
    customer_id: int,
    start: datetime,
    end: datetime,
) -> int:
    """How many times the customer did the challenge's thing in ``[start, end)``."""
    stmt: Select[int]
    if challenge.metric == "orders":
        stmt = select(func.count(Order.id)).where(
            *_counting_orders(brand_id, customer_id),
            Order.purchased_at >= start,
            Order.purchased_at < end,
        )
    elif challenge.metric == "category_orders":
        stmt = (
            select(func.count(func.distinct(Order.id)))
            .join(OrderItem, OrderItem.order_id == Order.id)
            .join(Product, Product.id == OrderItem.product_id)
            .join(Category, Category.id == Product.category_id)
            .where(
                *_counting_orders(brand_id, customer_id),
                Category.slug == challenge.subject,
                Order.purchased_at >= start,
                Order.purchased_at < end,
            )
        )
    elif challenge.metric == "reviews":
        stmt = select(func.count(Review.id)).where(
            Review.brand_id == brand_id,
            Review.customer_id == customer_id,
            Review.created_at >= start,
            Review.created_at < end,
        )
    elif challenge.metric == "event":
        stmt = select(func.count(Event.id)).where(
            Event.brand_id == brand_id,
            Event.customer_id == customer_id,
            Event.type == challenge.subject,
            Event.occurred_at >= start,
            Event.occurred_at < end,
        )
    elif challenge.metric == "quiz_passes":
        stmt = (
            select(func.count(EngagementQuizAttempt.id))
            .join(EngagementQuiz, EngagementQuiz.id == EngagementQuizAttempt.quiz_id)
            .where(
                EngagementQuiz.program_id == challenge.program_id,
                EngagementQuizAttempt.customer_id == customer_id,
                EngagementQuizAttempt.passed,
                EngagementQuizAttempt.created_at >= start,
                EngagementQuizAttempt.created_at < end,
            )
        )
    else:  # referrals: friends whose rewards were released
        stmt = select(func.count(EngagementReferral.id)).where(
            EngagementReferral.program_id == challenge.program_id,
            EngagementReferral.referrer_id == customer_id,
            EngagementReferral.status == "released",
            EngagementReferral.decided_at >= start,
            EngagementReferral.decided_at < end,
        )
    return int(session.scalar(stmt) or 0)


def streak_months(session: Session, *, brand_id: int, customer_id: int, now: datetime) -> int:
    """Consecutive calendar months (UTC) with an order, up to this month or the last one.

    A run that ended last month is still alive (this month can continue it); a run that
    ended earlier is broken and counts 0.
    """
    purchases = session.scalars(
        select(Order.purchased_at).where(
            *_counting_orders(brand_id, customer_id), Order.purchased_at <= now
        )
    )
    months = {(at.astimezone(UTC).year, at.astimezone(UTC).month) for at in purchases}
    now = now.astimezone(UTC)
    cursor = month_start(now.year, now.month)
    if (cursor.year, cursor.month) not in months:
        cursor = month_start(now.year, now.month - 1)
    run = 0
    while (cursor.year, cursor.month) in months:
        run += 1
        cursor = month_start(cursor.year, cursor.month - 1)
    return run
