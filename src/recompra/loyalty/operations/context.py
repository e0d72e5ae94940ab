"""What every use case needs first: the locked account and the rules' earn context."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from recompra.loyalty.ledger.locks import lock_or_open_account_row, locked_account_object
from recompra.loyalty.rules.calculation import EarnContext
from recompra.loyalty.tiers.service import effective_tier
from recompra.models.customer import Customer
from recompra.models.loyalty import LoyaltyAccount, LoyaltyLot, LoyaltyTier


def locked_account(session: Session, *, program_id: int, customer_id: int) -> LoyaltyAccount:
    """The customer's account in the program, created on first use, locked (ORM object)."""
    row = lock_or_open_account_row(session, program_id=program_id, customer_id=customer_id)
    return locked_account_object(session, account_id=row.id)


def earn_context(
    session: Session,
    *,
    account: LoyaltyAccount,
    trigger: str,
    at: datetime,
    now: datetime,
    review_length: int = 0,
) -> EarnContext:
    """The context the rules see for this account (tier, birthday, period earnings)."""
    return context_for(
        session,
        account_id=account.id,
        tier=effective_tier(session, account=account, now=now),
        customer_id=account.customer_id if trigger == "birthday" else None,
        trigger=trigger,
        at=at,
        review_length=review_length,
    )


def context_for(
    session: Session,
    *,
    account_id: int,
    tier: LoyaltyTier | None,
    customer_id: int | None,
    trigger: str,
    at: datetime,
    review_length: int = 0,
) -> EarnContext:
    """:func:`earn_context` from the account's id and tier (the Core hot path)."""
    customer = session.get(Customer, customer_id) if customer_id is not None else None

    def earned_between(start: datetime, end: datetime) -> int:
        total = session.scalar(
            select(
                func.coalesce(func.sum(LoyaltyLot.points - LoyaltyLot.reversed_points), 0)
            ).where(
                LoyaltyLot.account_id == account_id,
                LoyaltyLot.source == "order",
                LoyaltyLot.earned_at >= start,
                LoyaltyLot.earned_at < end,
            )
        )
        return int(total or 0)

    return EarnContext(
        trigger=trigger,
        at=at,
        tier_code=tier.code if tier else None,
        tier_multiplier_pct=tier.earn_multiplier_pct if tier else 100,
        birth_date=customer.birth_date if customer else None,
        review_length=review_length,
        earned_between=earned_between,
    )
