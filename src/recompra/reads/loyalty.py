"""Loyalty reads for one brand (API and dashboard): program, accounts, ledger, totals.

Everything goes through the brand's active program, so a brand never reads another
brand's points. Totals are in points (a program does not define a point's money value).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from recompra.db import PREPARED
from recompra.loyalty.programs import (
    NoActiveProgram,
    active_program_condition,
    active_program_for_brand,
    find_account,
    holder_condition,
)
from recompra.loyalty.rules.versions import rules_in_force
from recompra.loyalty.tiers.service import effective_tier, program_tiers
from recompra.models.loyalty import (
    LoyaltyAccount,
    LoyaltyMovement,
    LoyaltyProgram,
    LoyaltyRedemption,
    LoyaltyReward,
    LoyaltyTier,
)


def brand_program(session: Session, *, brand_id: int) -> LoyaltyProgram:
    """The brand's active program, or 404."""
    program = active_program_for_brand(session, brand_id=brand_id)
    if program is None:
        raise NoActiveProgram()
    return program


def program_config(session: Session, *, program: LoyaltyProgram, now: datetime) -> dict[str, Any]:
    """The program's settings and the earning rules in force now."""
    version, _ = rules_in_force(session, program_id=program.id, at=now)
    return {
        "id": program.id,
        "name": program.name,
        "status": program.status,
        "currency": program.currency,
        "return_window_days": program.return_window_days,
        "release_on": program.release_on,
        "expiry_days": program.expiry_days,
        "expiry_warning_days": program.expiry_warning_days,
        "refund_validity_days": program.refund_validity_days,
        "tier_window_days": program.tier_window_days,
        "tier_review_days": program.tier_review_days,
        "tier_grace_days": program.tier_grace_days,
        "rule_version": version.version if version else None,
        "rules_effective_from": version.effective_from if version else None,
        "rules": (version.rules if version else {}) or {},
    }


def tier_dict(tier: LoyaltyTier) -> dict[str, Any]:
    """A tier as the API shows it."""
    return {
        "id": tier.id,
        "code": tier.code,
        "name": tier.name,
        "rank": tier.rank,
        "metric": tier.metric,
        "threshold": tier.threshold,
        "earn_multiplier_pct": tier.earn_multiplier_pct,
        "benefits": tier.benefits or {},
    }


def tiers_with_members(session: Session, *, program: LoyaltyProgram) -> list[dict[str, Any]]:
    """Tiers, best first, with the number of accounts currently in each."""
    current = func.coalesce(LoyaltyAccount.override_tier_id, LoyaltyAccount.tier_id)
    members = dict(
        session.execute(
            select(current, func.count())
            .where(LoyaltyAccount.program_id == program.id)
            .group_by(current)
        ).all()
    )
    tiers = [
        {**tier_dict(t), "accounts": int(members.get(t.id, 0))}
        for t in program_tiers(session, program_id=program.id)
    ]
    return tiers


def rewards(session: Session, *, program: LoyaltyProgram) -> list[dict[str, Any]]:
    """The reward catalogue with the number of redemptions still issued."""
    issued = (
        select(LoyaltyRedemption.reward_id, func.count().label("n"))
        .where(LoyaltyRedemption.status == "issued")
        .group_by(LoyaltyRedemption.reward_id)
        .subquery()
    )
    rows = session.execute(
        select(LoyaltyReward, func.coalesce(issued.c.n, 0))
        .outerjoin(issued, issued.c.reward_id == LoyaltyReward.id)
        .where(LoyaltyReward.program_id == program.id)
        .order_by(LoyaltyReward.cost_points, LoyaltyReward.code)
    ).all()
    return [
        {
            "id": r.id,
            "code": r.code,
            "name": r.name,
            "cost_points": r.cost_points,
            "stock": r.stock,
            "valid_from": r.valid_from,
            "valid_until": r.valid_until,
            "per_customer_limit": r.per_customer_limit,
            "min_tier_rank": r.min_tier_rank,
            "active": r.active,
            "redemptions": int(n),
        }
        for r, n in rows
    ]


def program_totals(session: Session, *, program: LoyaltyProgram) -> dict[str, int]:
    """Points issued, redeemed, expired, reversed and outstanding (the liability).

    issued = earned (pending included once; a release only moves pending to balance);
    redeemed = spent less refunds of cancelled redemptions; outstanding = balances plus
    pending points, which customers may still redeem; debt = points owed after returns.
    """
    kind = LoyaltyMovement.kind
    total = LoyaltyMovement.points + LoyaltyMovement.pending_delta

    def summed(expression: Any) -> Any:
        return func.coalesce(func.sum(expression), 0)

    movements = session.execute(
        select(
            summed(case((kind == "earn", total), else_=0)),
            summed(case((kind == "spend", -LoyaltyMovement.points), else_=0)),
            summed(case((kind == "refund", LoyaltyMovement.points), else_=0)),
            summed(case((kind == "expire", -LoyaltyMovement.points), else_=0)),
            summed(case((kind == "reverse", -total), else_=0)),
            summed(case((kind == "adjust", LoyaltyMovement.points), else_=0)),
        )
        .join(LoyaltyAccount, LoyaltyAccount.id == LoyaltyMovement.account_id)
        .where(LoyaltyAccount.program_id == program.id)
    ).one()
    earned, spent, refunded, expired, reversed_, adjusted = (int(v) for v in movements)
    balances = session.execute(
        select(
            func.count(),
            summed(LoyaltyAccount.balance),
            summed(LoyaltyAccount.pending),
            summed(LoyaltyAccount.debt),
        ).where(LoyaltyAccount.program_id == program.id)
    ).one()
    accounts, balance, pending, debt = (int(v) for v in balances)
    return {
        "accounts": accounts,
        "issued": earned,
        "redeemed": spent - refunded,
        "expired": expired,
        "reversed": reversed_,
        "adjusted": adjusted,
        "balance": balance,
        "pending": pending,
        "outstanding": balance + pending,
        "debt": debt,
    }


def account_view(
    session: Session, *, program: LoyaltyProgram, customer_id: int, now: datetime
) -> dict[str, Any]:
    """A customer's balance, pending points, debt and effective tier (zeros if no account)."""
    account = find_account(session, program_id=program.id, customer_id=customer_id)
    if account is None:
        return {
            "program_id": program.id,
            "customer_id": customer_id,
            "account_id": None,
            "balance": 0,
            "pending": 0,
            "debt": 0,
            "tier": None,
        }
    tier = effective_tier(session, account=account, now=now)
    return {
        "program_id": program.id,
        "customer_id": customer_id,
        "account_id": account.id,
        "balance": account.balance,
        "pending": account.pending,
        "debt": account.debt,
        "tier": tier_dict(tier) if tier is not None else None,
    }


def history(
    session: Session, *, program: LoyaltyProgram, customer_id: int, limit: int, offset: int
) -> list[dict[str, Any]]:
    """The customer's ledger movements, newest first."""
    account = find_account(session, program_id=program.id, customer_id=customer_id)
    if account is None:
        return []
    rows = session.scalars(
        select(LoyaltyMovement)
        .where(LoyaltyMovement.account_id == account.id)
        .order_by(LoyaltyMovement.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [
        {
            "id": m.id,
            "kind": m.kind,
            "points": m.points,
            "pending_delta": m.pending_delta,
            "debt_delta": m.debt_delta,
            "order_id": m.order_id,
            "redemption_id": m.redemption_id,
            "note": m.note,
            "created_at": m.created_at,
        }
        for m in rows
    ]


#: The profile's points: built once, run as Core on the session's connection (issue 20).
_PROFILE_PROGRAM = (
    select(LoyaltyProgram.id, LoyaltyProgram.name)
    .where(active_program_condition())
    .order_by(LoyaltyProgram.id)
    .limit(1)
    .execution_options(**PREPARED)  # prepared on PostgreSQL's side, as the profile's
)
_PROFILE_HOLDER = (
    select(
        LoyaltyAccount.balance,
        LoyaltyAccount.pending,
        LoyaltyAccount.debt,
        LoyaltyAccount.tier_id,
        LoyaltyAccount.override_tier_id,
        LoyaltyAccount.company_account_id,
    )
    .where(holder_condition())
    .execution_options(**PREPARED)
)


def customer_points(session: Session, *, brand_id: int, customer_id: int) -> dict[str, Any] | None:
    """The balance holding the customer's points in the brand's active program (their
    company's pool when they buy for one; a coalition's when the brand joined one), or
    ``None``: no program or no account."""
    connection = session.connection()
    program = connection.execute(_PROFILE_PROGRAM, {"brand_id": brand_id}).first()
    if program is None:
        return None
    params = {"program_id": program.id, "customer_id": customer_id}
    account = connection.execute(_PROFILE_HOLDER, params).first()
    if account is None:
        return None
    return {
        "program_id": program.id,
        "program": program.name,
        "balance": account.balance,
        "pending": account.pending,
        "debt": account.debt,
        "tier_id": account.override_tier_id or account.tier_id,
        "company_account_id": account.company_account_id,
    }
