"""A program's redemptions (coupons issued for rewards), newest first, for the dashboard."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from recompra.models import Customer
from recompra.models.loyalty import (
    LoyaltyAccount,
    LoyaltyMovement,
    LoyaltyProgram,
    LoyaltyRedemption,
    LoyaltyReward,
)


@dataclass(frozen=True)
class RedemptionRow:
    """One redemption: who, which reward, how many points, the coupon and its status."""

    id: int
    created_at: datetime
    customer_id: int
    customer_name: str | None
    reward: str
    points: int
    coupon_code: str
    status: str


def count_redemptions(session: Session, *, program: LoyaltyProgram) -> int:
    """How many redemptions the program has (any status)."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(LoyaltyRedemption)
            .join(LoyaltyAccount, LoyaltyAccount.id == LoyaltyRedemption.account_id)
            .where(LoyaltyAccount.program_id == program.id)
        )
        or 0
    )


def recent_redemptions(
    session: Session, *, program: LoyaltyProgram, limit: int
) -> list[RedemptionRow]:
    """The program's latest ``limit`` redemptions, newest first."""
    # The redeemer is whoever the spend movement names: on a pooled B2B account that is
    # the buyer, not the account's contact (the company's owner).
    redeemer = func.coalesce(LoyaltyMovement.customer_id, LoyaltyAccount.customer_id)
    rows = session.execute(
        select(LoyaltyRedemption, redeemer, Customer.name, LoyaltyReward.name)
        .join(LoyaltyAccount, LoyaltyAccount.id == LoyaltyRedemption.account_id)
        .outerjoin(LoyaltyMovement, LoyaltyMovement.id == LoyaltyRedemption.movement_id)
        .join(LoyaltyReward, LoyaltyReward.id == LoyaltyRedemption.reward_id)
        .join(Customer, Customer.id == redeemer)
        .where(LoyaltyAccount.program_id == program.id)
        .order_by(LoyaltyRedemption.created_at.desc(), LoyaltyRedemption.id.desc())
        .limit(limit)
    ).all()
    return [
        RedemptionRow(
            id=redemption.id,
            created_at=redemption.created_at,
            customer_id=customer_id,
            customer_name=name,
            reward=reward,
            points=redemption.points,
            coupon_code=redemption.coupon_code,
            status=redemption.status,
        )
        for redemption, customer_id, name, reward in rows
    ]
