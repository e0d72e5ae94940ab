"""Releasing an order's pending points on delivery (programs with ``release_on=delivery``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from recompra.loyalty.ledger.locks import lock_account
from recompra.loyalty.ledger.settlement import release_lot
from recompra.loyalty.programs import get_program
from recompra.models.base import utcnow
from recompra.models.loyalty import LoyaltyAccount, LoyaltyLot


def release_order(
    session: Session, *, program_id: int, order_id: int, now: datetime | None = None
) -> int:
    """Release an order's pending points now (on delivery); returns the points released."""
    now = now or utcnow()
    program = get_program(session, program_id=program_id)
    account_id = session.scalar(
        select(LoyaltyLot.account_id)
        .join(LoyaltyAccount, LoyaltyAccount.id == LoyaltyLot.account_id)
        .where(LoyaltyLot.order_id == order_id, LoyaltyAccount.program_id == program.id)
        .limit(1)
    )
    if account_id is None:
        return 0
    account = lock_account(session, account_id=account_id)
    lots = session.scalars(
        select(LoyaltyLot)
        .where(
            LoyaltyLot.account_id == account.id,
            LoyaltyLot.order_id == order_id,
            LoyaltyLot.state == "pending",
        )
        .order_by(LoyaltyLot.id)
    ).all()
    return sum(
        release_lot(session, account=account, program=program, lot=lot, now=now, reason="delivered")
        for lot in lots
    )
