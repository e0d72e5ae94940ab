"""Tiers: rolling qualification, immediate upgrade, downgrade at review after a grace
period, and manual overrides with an end date.

Qualification reads the account's order lots earned inside the rolling window
(``tier_window_days``): ``spend`` = earned-on amount minus returns, ``orders`` = orders
not fully returned, ``points`` = order points minus reversals.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from recompra.errors import InvalidInput, NotFound
from recompra.loyalty.ledger.locks import lock_account
from recompra.loyalty.ledger.postings import record_event
from recompra.loyalty.programs import get_program
from recompra.models.loyalty import (
    LoyaltyAccount,
    LoyaltyLot,
    LoyaltyProgram,
    LoyaltyTier,
    LoyaltyTierChange,
)


def define_tier(
    session: Session,
    *,
    program_id: int,
    code: str,
    name: str,
    rank: int,
    metric: str,
    threshold: int,
    earn_multiplier_pct: int = 100,
    benefits: dict[str, Any] | None = None,
) -> LoyaltyTier:
    """Add a tier to a program (higher ``rank`` = better tier)."""
    get_program(session, program_id=program_id)
    if metric not in ("spend", "orders", "points"):
        raise InvalidInput("metric must be spend, orders or points", field="metric")
    if threshold < 0 or earn_multiplier_pct < 100:
        raise InvalidInput("threshold >= 0 and multiplier >= 100%", field="threshold")
    tier = LoyaltyTier(
        program_id=program_id,
        code=code,
        name=name,
        rank=rank,
        metric=metric,
        threshold=threshold,
        earn_multiplier_pct=earn_multiplier_pct,
        benefits=benefits or {},
    )
    session.add(tier)
    session.flush()
    return tier


def program_tiers(session: Session, *, program_id: int) -> list[LoyaltyTier]:
    """The program's tiers, best (highest rank) first."""
    stmt = (
        select(LoyaltyTier)
        .where(LoyaltyTier.program_id == program_id)
        .order_by(LoyaltyTier.rank.desc())
    )
    return list(session.scalars(stmt))


def qualification(
    session: Session, *, account: LoyaltyAccount, program: LoyaltyProgram, now: datetime
) -> dict[str, int]:
    """Spend, orders and points inside the rolling window ending at ``now``."""
    since = now - timedelta(days=program.tier_window_days)
    row = session.execute(
        select(
            func.coalesce(func.sum(LoyaltyLot.basis_minor - LoyaltyLot.returned_minor), 0),
            func.coalesce(
                func.sum(case((LoyaltyLot.returned_minor < LoyaltyLot.basis_minor, 1), else_=0)),
                0,
            ),
            func.coalesce(func.sum(LoyaltyLot.points - LoyaltyLot.reversed_points), 0),
        ).where(
            LoyaltyLot.account_id == account.id,
            LoyaltyLot.source == "order",
            LoyaltyLot.earned_at > since,
            LoyaltyLot.earned_at <= now,
        )
    ).one()
    return {"spend": int(row[0]), "orders": int(row[1]), "points": int(row[2])}


def qualified_tier(tiers: list[LoyaltyTier], values: dict[str, int]) -> LoyaltyTier | None:
    """The best tier whose threshold the values meet (tiers best first)."""
    for tier in tiers:
        if values[tier.metric] >= tier.threshold:
            return tier
    return None


class TierColumns(Protocol):
    """An account's tier columns: the ORM row, or a Core row on the hot paths."""

    @property
    def tier_id(self) -> int | None: ...

    @property
    def override_tier_id(self) -> int | None: ...

    @property
    def override_until(self) -> datetime | None: ...


def effective_tier(session: Session, *, account: TierColumns, now: datetime) -> LoyaltyTier | None:
    """The tier that applies now: an unexpired manual override, else the earned tier."""
    override_until = account.override_until
    if account.override_tier_id is not None and (override_until is None or override_until > now):
        return session.get(LoyaltyTier, account.override_tier_id)
    if account.tier_id is None:
        return None
    return session.get(LoyaltyTier, account.tier_id)


def _change(
    session: Session,
    *,
    account: LoyaltyAccount,
    to_tier: LoyaltyTier | None,
    reason: str,
    now: datetime,
    value: int | None = None,
    until: datetime | None = None,
) -> None:
    """Record a move of ``account`` to ``to_tier`` (history row and ``tier_changed`` event).

    ``until`` ends a manual override; the caller updates the account's columns.
    """
    from_id = account.tier_id
    payload: dict[str, Any] = {
        "from_tier_id": from_id,
        "to_tier_id": to_tier.id if to_tier else None,
        "to_tier": to_tier.code if to_tier else None,
        "reason": reason,
    }
    if until is not None:
        payload["until"] = until.isoformat()
    session.add(
        LoyaltyTierChange(
            account_id=account.id,
            from_tier_id=from_id,
            to_tier_id=to_tier.id if to_tier else None,
            reason=reason,
            metric_value=value,
            created_at=now,
        )
    )
    record_event(session, account=account, type_="tier_changed", now=now, payload=payload)


def _rank(tier: LoyaltyTier | None) -> int:
    return tier.rank if tier is not None else -(10**9)


def apply_upgrade(
    session: Session, *, account: LoyaltyAccount, program: LoyaltyProgram, now: datetime
) -> LoyaltyTier | None:
    """Upgrade at once when the account qualifies for a better tier (account locked)."""
    tiers = program_tiers(session, program_id=program.id)
    if not tiers:
        return None
    values = qualification(session, account=account, program=program, now=now)
    best = qualified_tier(tiers, values)
    current = session.get(LoyaltyTier, account.tier_id) if account.tier_id else None
    if best is None or _rank(best) <= _rank(current):
        return None
    _change(
        session, account=account, to_tier=best, reason="upgrade", now=now, value=values[best.metric]
    )
    account.tier_id = best.id
    account.tier_since = now
    account.tier_review_at = now + timedelta(days=program.tier_review_days)
    account.tier_grace_until = None
    return best


def review_account(
    session: Session, *, account: LoyaltyAccount, program: LoyaltyProgram, now: datetime
) -> str:
    """Review one account whose review date has passed; returns what happened."""
    if account.override_until is not None and account.override_until <= now:
        account.override_tier_id = None
        account.override_until = None
        _change(
            session,
            account=account,
            to_tier=session.get(LoyaltyTier, account.tier_id) if account.tier_id else None,
            reason="override_ended",
            now=now,
            value=None,
        )
    if account.tier_review_at is None or account.tier_review_at > now:
        return "not_due"
    tiers = program_tiers(session, program_id=program.id)
    values = qualification(session, account=account, program=program, now=now)
    best = qualified_tier(tiers, values)
    current = session.get(LoyaltyTier, account.tier_id) if account.tier_id else None
    if _rank(best) >= _rank(current):
        if best is not None and _rank(best) > _rank(current):
            apply_upgrade(session, account=account, program=program, now=now)
            return "upgraded"
        account.tier_review_at = now + timedelta(days=program.tier_review_days)
        account.tier_grace_until = None
        return "kept"
    if account.tier_grace_until is None:
        account.tier_grace_until = now + timedelta(days=program.tier_grace_days)
        record_event(
            session,
            account=account,
            type_="tier_grace_started",
            now=now,
            payload={
                "tier_id": account.tier_id,
                "grace_until": account.tier_grace_until.isoformat(),
            },
        )
        return "grace"
    if account.tier_grace_until > now:
        return "grace"
    _change(
        session,
        account=account,
        to_tier=best,
        reason="downgrade",
        now=now,
        value=values[best.metric] if best else None,
    )
    account.tier_id = best.id if best else None
    account.tier_since = now if best else None
    account.tier_review_at = now + timedelta(days=program.tier_review_days) if best else None
    account.tier_grace_until = None
    return "downgraded"


def review_tiers(session: Session, *, program_id: int, now: datetime) -> dict[str, int]:
    """The review job: accounts due for review (or override end), locked one by one."""
    program = get_program(session, program_id=program_id)
    due_ids = session.scalars(
        select(LoyaltyAccount.id)
        .where(
            LoyaltyAccount.program_id == program_id,
            (LoyaltyAccount.tier_review_at <= now) | (LoyaltyAccount.override_until <= now),
        )
        .order_by(LoyaltyAccount.id)
    ).all()
    outcome: dict[str, int] = {}
    for account_id in due_ids:
        account = lock_account(session, account_id=account_id)
        result = review_account(session, account=account, program=program, now=now)
        outcome[result] = outcome.get(result, 0) + 1
    return outcome


def set_override(
    session: Session,
    *,
    account_id: int,
    tier_code: str,
    until: datetime,
    now: datetime,
) -> LoyaltyAccount:
    """Put an account in ``tier_code`` until ``until`` regardless of qualification."""
    account = lock_account(session, account_id=account_id)
    tier = session.scalars(
        select(LoyaltyTier).where(
            LoyaltyTier.program_id == account.program_id, LoyaltyTier.code == tier_code
        )
    ).first()
    if tier is None:
        raise NotFound(f"tier {tier_code!r} not found", field="tier_code")
    if until <= now:
        raise InvalidInput("override end must be in the future", field="until")
    account.override_tier_id = tier.id
    account.override_until = until
    _change(session, account=account, to_tier=tier, reason="override", now=now, until=until)
    return account
