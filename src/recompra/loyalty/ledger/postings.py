"""Ledger primitives. Callers hold the account lock; nothing here commits.

:func:`post` is the only place that changes an account's cached ``balance``, ``pending``
and ``debt``; it writes the movement and its event in the same breath, so every balance
change has exactly one movement and one event and the caches equal the ledger sums.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from recompra.errors import InsufficientBalance
from recompra.models.loyalty import (
    LoyaltyAccount,
    LoyaltyAllocation,
    LoyaltyDebt,
    LoyaltyEvent,
    LoyaltyLot,
    LoyaltyMovement,
    LoyaltyProgram,
)

EVENT_TYPES = {
    "earn": "points_earned",
    "release": "points_released",
    "spend": "points_spent",
    "expire": "points_expired",
    "reverse": "points_reversed",
    "adjust": "points_adjusted",
    "refund": "points_refunded",
    "debt_repay": "debt_repaid",
}


def post(
    session: Session,
    *,
    account: LoyaltyAccount,
    kind: str,
    now: datetime,
    points: int = 0,
    pending_delta: int = 0,
    debt_delta: int = 0,
    order_id: int | None = None,
    redemption_id: int | None = None,
    rule_version_id: int | None = None,
    note: str | None = None,
    payload: dict[str, Any] | None = None,
) -> LoyaltyMovement:
    """Write one movement and its event and apply it to the account's cached balances."""
    account.balance += points
    account.pending += pending_delta
    account.debt += debt_delta
    account.updated_at = now
    movement = LoyaltyMovement(
        account_id=account.id,
        kind=kind,
        points=points,
        pending_delta=pending_delta,
        debt_delta=debt_delta,
        order_id=order_id,
        redemption_id=redemption_id,
        rule_version_id=rule_version_id,
        note=note,
        created_at=now,
    )
    session.add(movement)
    session.flush()
    event_payload: dict[str, Any] = {
        "balance": account.balance,
        "pending": account.pending,
        "debt": account.debt,
        "pending_delta": pending_delta,
        "debt_delta": debt_delta,
    }
    if order_id is not None:
        event_payload["order_id"] = order_id
    event_payload.update(payload or {})
    session.add(
        LoyaltyEvent(
            program_id=account.program_id,
            account_id=account.id,
            type=EVENT_TYPES[kind],
            movement_id=movement.id,
            points=points,
            payload=event_payload,
            created_at=now,
        )
    )
    return movement


def record_event(
    session: Session,
    *,
    account: LoyaltyAccount,
    type_: str,
    now: datetime,
    points: int = 0,
    payload: dict[str, Any] | None = None,
) -> None:
    """Record an event that changes no balance (tier change, expiry warning...)."""
    session.add(
        LoyaltyEvent(
            program_id=account.program_id,
            account_id=account.id,
            type=type_,
            points=points,
            payload=payload or {},
            created_at=now,
        )
    )


def spendable_lots(
    session: Session, *, account: LoyaltyAccount, now: datetime, exclude_lot_id: int | None = None
) -> list[LoyaltyLot]:
    """Active lots with points left, first to expire first (= oldest first), then by id."""
    stmt = (
        select(LoyaltyLot)
        .where(
            LoyaltyLot.account_id == account.id,
            LoyaltyLot.state == "active",
            LoyaltyLot.remaining > 0,
            LoyaltyLot.expires_at > now,
        )
        .order_by(LoyaltyLot.expires_at.asc().nulls_last(), LoyaltyLot.id)
    )
    if exclude_lot_id is not None:
        stmt = stmt.where(LoyaltyLot.id != exclude_lot_id)
    return list(session.scalars(stmt))


def take_from_lots(
    session: Session,
    *,
    account: LoyaltyAccount,
    movement: LoyaltyMovement,
    points: int,
    now: datetime,
    exclude_lot_id: int | None = None,
) -> None:
    """Consume ``points`` from spendable lots oldest-first, writing allocation rows."""
    left = points
    for lot in spendable_lots(session, account=account, now=now, exclude_lot_id=exclude_lot_id):
        if left == 0:
            break
        used = min(left, lot.remaining)
        lot.remaining -= used
        left -= used
        session.add(LoyaltyAllocation(movement_id=movement.id, lot_id=lot.id, points=used))
    if left:
        # The cached balance said there was enough: the caches and the lots disagree.
        raise InsufficientBalance(f"lots hold {points - left} of the {points} points needed")


def new_lot(
    session: Session,
    *,
    account: LoyaltyAccount,
    movement: LoyaltyMovement,
    source: str,
    points: int,
    state: str,
    now: datetime,
    earned_at: datetime | None = None,
    order_id: int | None = None,
    basis_minor: int = 0,
    release_at: datetime | None = None,
    expires_at: datetime | None = None,
) -> LoyaltyLot:
    """Create a lot (pending or active) for a credit movement."""
    lot = LoyaltyLot(
        account_id=account.id,
        movement_id=movement.id,
        source=source,
        order_id=order_id,
        state=state,
        points=points,
        remaining=points,
        reversed_points=0,
        expired_points=0,
        forgiven_points=0,
        basis_minor=basis_minor,
        returned_minor=0,
        earned_at=earned_at or now,
        release_at=release_at,
        released_at=now if state == "active" else None,
        expires_at=expires_at,
    )
    session.add(lot)
    return lot


def repay_debt(session: Session, *, account: LoyaltyAccount, now: datetime) -> int:
    """Repay outstanding debt from the spendable balance, oldest debt first."""
    amount = min(account.debt, account.balance)
    if amount <= 0:
        return 0
    movement = post(
        session,
        account=account,
        kind="debt_repay",
        now=now,
        points=-amount,
        debt_delta=-amount,
        note="debt repaid from new points",
    )
    take_from_lots(session, account=account, movement=movement, points=amount, now=now)
    left = amount
    debts = session.scalars(
        select(LoyaltyDebt)
        .where(LoyaltyDebt.account_id == account.id, LoyaltyDebt.outstanding > 0)
        .order_by(LoyaltyDebt.id)
    )
    for debt in debts:
        if left == 0:
            break
        paid = min(left, debt.outstanding)
        debt.outstanding -= paid
        left -= paid
        if debt.outstanding == 0:
            debt.settled_at = now
        session.add(LoyaltyAllocation(movement_id=movement.id, debt_id=debt.id, points=paid))
    return amount


def release_lot(
    session: Session,
    *,
    account: LoyaltyAccount,
    program: LoyaltyProgram,
    lot: LoyaltyLot,
    now: datetime,
    reason: str,
) -> int:
    """Make a pending lot spendable (its expiry clock starts now); repay debt first."""
    points = lot.remaining
    movement = post(
        session,
        account=account,
        kind="release",
        now=now,
        points=points,
        pending_delta=-points,
        order_id=lot.order_id,
        note=reason,
        payload={"lot_id": lot.id},
    )
    # A lot released late (by a later write or job run) starts its clock when it was due.
    start = lot.release_at if lot.release_at is not None and lot.release_at <= now else now
    lot.state = "active"
    lot.released_at = now
    lot.expires_at = start + timedelta(days=program.expiry_days)
    session.add(LoyaltyAllocation(movement_id=movement.id, lot_id=lot.id, points=points))
    repay_debt(session, account=account, now=now)
    return points


def expire_lots_of_account(
    session: Session, *, account: LoyaltyAccount, due: list[LoyaltyLot], now: datetime
) -> int:
    """Expire the given active lots past their date (the job does the same in bulk)."""
    total = sum(lot.remaining for lot in due)
    movement = None
    if total:
        movement = post(
            session, account=account, kind="expire", now=now, points=-total, note="lots expired"
        )
    for lot in due:
        if movement is not None and lot.remaining:
            session.add(
                LoyaltyAllocation(movement_id=movement.id, lot_id=lot.id, points=lot.remaining)
            )
        lot.expired_points += lot.remaining
        lot.remaining = 0
        lot.state = "expired"
    return total


def settle_account(
    session: Session, *, account: LoyaltyAccount, program: LoyaltyProgram, now: datetime
) -> None:
    """Release pending lots that are due and expire lots past their date (account locked)."""
    due = list(
        session.scalars(
            select(LoyaltyLot)
            .where(
                LoyaltyLot.account_id == account.id,
                or_(
                    and_(LoyaltyLot.state == "pending", LoyaltyLot.release_at <= now),
                    and_(LoyaltyLot.state == "active", LoyaltyLot.expires_at <= now),
                ),
            )
            .order_by(LoyaltyLot.id)
        )
    )
    if not due:
        return
    for lot in due:
        if lot.state == "pending":
            release_lot(
                session, account=account, program=program, lot=lot, now=now, reason="return window"
            )
    # Released lots start their clock at release, so they can expire now only if overdue.
    expired = [
        lot
        for lot in due
        if lot.state == "active" and lot.expires_at is not None and lot.expires_at <= now
    ]
    expire_lots_of_account(session, account=account, due=expired, now=now)
