"""A member's points as of a moment, read from the lots (never from the cached balance).

The cached ``balance`` only drops when the expiry job runs; a shopper looking at their
points must never see expired ones. So here every figure comes from the lots: available
= active lots not yet expired at ``now``, pending = pending lots with their release
dates, expiring soon = available points whose lot expires within the program's warning
window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from recompra.loyalty.programs import find_account, get_program
from recompra.models.loyalty import LoyaltyLot


@dataclass(frozen=True)
class DatedPoints:
    """Points of one lot and the date that matters for them (release or expiry)."""

    points: int
    on: datetime | None


@dataclass(frozen=True)
class PointsAsOf:
    """A member's points at ``as_of``."""

    as_of: datetime
    account_id: int | None
    available: int
    pending: int
    pending_lots: list[DatedPoints]
    expiring_soon: int
    expiring_lots: list[DatedPoints]


def points_as_of(
    session: Session, *, program_id: int, customer_id: int, now: datetime
) -> PointsAsOf:
    """The customer's (or their company pool's) points at ``now``, from the lots."""
    program = get_program(session, program_id=program_id)
    account = find_account(session, program_id=program_id, customer_id=customer_id)
    if account is None:
        return PointsAsOf(now, None, 0, 0, [], 0, [])
    lots = session.execute(
        select(LoyaltyLot.state, LoyaltyLot.remaining, LoyaltyLot.release_at, LoyaltyLot.expires_at)
        .where(
            LoyaltyLot.account_id == account.id,
            LoyaltyLot.state.in_(("active", "pending")),
            LoyaltyLot.remaining > 0,
        )
        .order_by(LoyaltyLot.expires_at, LoyaltyLot.release_at, LoyaltyLot.id)
    ).all()
    horizon = now + timedelta(days=program.expiry_warning_days)
    live = [
        (remaining, expires_at)
        for state, remaining, _, expires_at in lots
        if state == "active" and (expires_at is None or expires_at > now)
    ]
    pending = [
        DatedPoints(int(remaining), release_at)
        for state, remaining, release_at, _ in lots
        if state == "pending"
    ]
    expiring = [
        DatedPoints(int(remaining), expires_at)
        for remaining, expires_at in live
        if expires_at is not None and expires_at <= horizon
    ]
    return PointsAsOf(
        as_of=now,
        account_id=account.id,
        available=sum(int(remaining) for remaining, _ in live),
        pending=sum(p.points for p in pending),
        pending_lots=pending,
        expiring_soon=sum(p.points for p in expiring),
        expiring_lots=expiring,
    )
