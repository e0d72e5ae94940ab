"""Lazy settlement: release pending lots that fell due and expire lots past their date.

Every write on an account settles it first (under the account lock), so a lot past its
date is never spent even when the daily job is late (ADR 0001).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from recompra.loyalty.ledger.locks import locked_account_object, read_account_row
from recompra.loyalty.ledger.postings import post, repay_debt
from recompra.loyalty.prepared import Record
from recompra.loyalty.programs import get_program
from recompra.models.loyalty import LoyaltyAccount, LoyaltyAllocation, LoyaltyLot, LoyaltyProgram


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
    posting = post(
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
    session.add(LoyaltyAllocation(movement_id=posting.movement_id, lot_id=lot.id, points=points))
    repay_debt(session, account=account, now=now)
    return points


def expire_lots_of_account(
    session: Session, *, account: LoyaltyAccount, due: list[LoyaltyLot], now: datetime
) -> int:
    """Expire the given active lots past their date (the job does the same in bulk)."""
    total = sum(lot.remaining for lot in due)
    movement_id = None
    if total:
        movement_id = post(
            session, account=account, kind="expire", now=now, points=-total, note="lots expired"
        ).movement_id
    for lot in due:
        if movement_id is not None and lot.remaining:
            session.add(
                LoyaltyAllocation(movement_id=movement_id, lot_id=lot.id, points=lot.remaining)
            )
        lot.expired_points += lot.remaining
        lot.remaining = 0
        lot.state = "expired"
        lot.expired_at = now
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
    session.flush()


def settle_row(session: Session, *, program_id: int, account: Record, now: datetime) -> Record:
    """:func:`settle_account` for a Core hot path that found lots due
    (:func:`recompra.loyalty.ledger.idempotency.lock_account_and_find_stored`).

    Returns the account row re-read (its balances changed).
    """
    settle_account(
        session,
        account=locked_account_object(session, account_id=account.id),
        program=get_program(session, program_id=program_id),
        now=now,
    )
    return read_account_row(session, account_id=account.id)
