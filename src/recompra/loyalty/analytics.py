"""Program analytics: redemption rate, breakage, liability, engagement per mechanic and
the customer lifetime value (CLTV) of members by tier.

Definitions (docs/loyalty-engagement.md, "Program analytics"):

* issued = points credited to lots, net of returns: ``sum(points - reversed_points)``;
* redeemed = points of redemptions still issued (cancelled ones gave their points back);
* expired = points the expiry job wrote off **plus** active points already past their
  expiry date that the job has not processed yet: every figure is as of ``now``;
* redemption rate = redeemed / issued; breakage = expired / issued (realised breakage);
* liability = points a member can still use: pending points plus active points not yet
  expired at ``now``, in points and in money at the configured point value;
* challenge completion = members with a completed challenge / members;
  quiz pass rate = passed attempts / attempts; referral conversion = released referrals /
  referrals claimed (rejected claims excluded: the fraud guards refused them);
* CLTV by tier = historic CLTV, the mean revenue to date (``orders.total_minor`` of
  earning orders at the program's brands) per member in each effective tier.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, case, func, or_, select, union_all
from sqlalchemy.orm import Session

from recompra.loyalty.programs import get_program
from recompra.loyalty.rules.engine import NON_EARNING_STATUSES
from recompra.loyalty.valuation import points_value_minor
from recompra.models.accounts import CompanyAccountMember
from recompra.models.engagement import (
    EngagementChallenge,
    EngagementCompletion,
    EngagementQuiz,
    EngagementQuizAttempt,
    EngagementReferral,
)
from recompra.models.loyalty import (
    LoyaltyAccount,
    LoyaltyCoalitionMember,
    LoyaltyLot,
    LoyaltyRedemption,
    LoyaltyTier,
)
from recompra.models.order import Order


@dataclass(frozen=True)
class TierValue:
    """Members of one tier (``None``: no tier) and their mean revenue to date."""

    tier_code: str | None
    members: int
    revenue_minor: int
    cltv_minor: int


@dataclass(frozen=True)
class ProgramAnalytics:
    """The program's figures as of ``as_of``."""

    as_of: datetime
    members: int
    issued: int
    redeemed: int
    expired: int
    redemption_rate: float | None
    breakage: float | None
    liability_points: int
    liability_minor: int
    challenge_completion: float | None
    quiz_pass_rate: float | None
    referral_conversion: float | None
    cltv_by_tier: list[TierValue]


def _ratio(part: int, whole: int) -> float | None:
    """``part / whole``, or ``None`` when there is nothing to divide by."""
    return part / whole if whole else None


def program_analytics(
    session: Session, *, program_id: int, now: datetime, point_value_minor_per_1000: int
) -> ProgramAnalytics:
    """Every figure of the program, computed from the ledger as of ``now``."""
    get_program(session, program_id=program_id)
    of_program = LoyaltyAccount.program_id == program_id
    live = and_(LoyaltyLot.state == "active", LoyaltyLot.expires_at > now)
    overdue = and_(LoyaltyLot.state == "active", LoyaltyLot.expires_at <= now)
    lots = session.execute(
        select(
            func.coalesce(func.sum(LoyaltyLot.points - LoyaltyLot.reversed_points), 0),
            func.coalesce(
                func.sum(
                    LoyaltyLot.expired_points + case((overdue, LoyaltyLot.remaining), else_=0)
                ),
                0,
            ),
            func.coalesce(
                func.sum(
                    case(
                        (or_(live, LoyaltyLot.state == "pending"), LoyaltyLot.remaining),
                        else_=0,
                    )
                ),
                0,
            ),
        )
        .join(LoyaltyAccount, LoyaltyAccount.id == LoyaltyLot.account_id)
        .where(of_program)
    ).one()
    issued, expired, liability = (int(value) for value in lots)
    redeemed = int(
        session.scalar(
            select(func.coalesce(func.sum(LoyaltyRedemption.points), 0))
            .join(LoyaltyAccount, LoyaltyAccount.id == LoyaltyRedemption.account_id)
            .where(of_program, LoyaltyRedemption.status == "issued")
        )
        or 0
    )
    members = int(session.scalar(select(func.count(LoyaltyAccount.id)).where(of_program)) or 0)
    return ProgramAnalytics(
        as_of=now,
        members=members,
        issued=issued,
        redeemed=redeemed,
        expired=expired,
        redemption_rate=_ratio(redeemed, issued),
        breakage=_ratio(expired, issued),
        liability_points=liability,
        liability_minor=points_value_minor(liability, point_value_minor_per_1000),
        challenge_completion=_ratio(_completers(session, program_id), members),
        quiz_pass_rate=_quiz_pass_rate(session, program_id),
        referral_conversion=_referral_conversion(session, program_id),
        cltv_by_tier=cltv_by_tier(session, program_id=program_id),
    )


def _completers(session: Session, program_id: int) -> int:
    """Members who completed at least one of the program's challenges."""
    return int(
        session.scalar(
            select(func.count(func.distinct(EngagementCompletion.customer_id)))
            .join(EngagementChallenge, EngagementChallenge.id == EngagementCompletion.challenge_id)
            .where(EngagementChallenge.program_id == program_id)
        )
        or 0
    )


def _quiz_pass_rate(session: Session, program_id: int) -> float | None:
    """Passed attempts over attempts of the program's quizzes."""
    attempts, passed = session.execute(
        select(
            func.count(EngagementQuizAttempt.id),
            func.coalesce(func.sum(case((EngagementQuizAttempt.passed, 1), else_=0)), 0),
        )
        .join(EngagementQuiz, EngagementQuiz.id == EngagementQuizAttempt.quiz_id)
        .where(EngagementQuiz.program_id == program_id)
    ).one()
    return _ratio(int(passed), int(attempts))


def _referral_conversion(session: Session, program_id: int) -> float | None:
    """Released referrals over referrals claimed (the guards' rejections left out)."""
    claimed, released = session.execute(
        select(
            func.count(EngagementReferral.id),
            func.coalesce(func.sum(case((EngagementReferral.status == "released", 1), else_=0)), 0),
        ).where(
            EngagementReferral.program_id == program_id, EngagementReferral.status != "rejected"
        )
    ).one()
    return _ratio(int(released), int(claimed))


def cltv_by_tier(session: Session, *, program_id: int) -> list[TierValue]:
    """Members and their mean revenue to date, per effective tier (no tier last).

    A pooled B2B account is one member whose revenue is its buyers' orders.
    """
    program = get_program(session, program_id=program_id)
    brands = select(LoyaltyCoalitionMember.brand_id).where(
        LoyaltyCoalitionMember.program_id == program_id
    )
    # Each member's buying customers: itself, or a pooled account's buyers. Orders are then
    # joined once on their customer index and summed per member; a correlated sum per
    # account with the choice inside it cost the page seconds on the 3,000-customer demo.
    buyers = union_all(
        select(LoyaltyAccount.id.label("account_id"), LoyaltyAccount.customer_id).where(
            LoyaltyAccount.program_id == program_id,
            LoyaltyAccount.company_account_id.is_(None),
        ),
        select(LoyaltyAccount.id, CompanyAccountMember.customer_id)
        .join(
            CompanyAccountMember,
            CompanyAccountMember.account_id == LoyaltyAccount.company_account_id,
        )
        .where(LoyaltyAccount.program_id == program_id),
    ).subquery()
    revenue = (
        select(buyers.c.account_id, func.sum(Order.total_minor).label("total"))
        .join(Order, Order.customer_id == buyers.c.customer_id)
        .where(
            or_(Order.brand_id == program.brand_id, Order.brand_id.in_(brands)),
            Order.status.not_in(NON_EARNING_STATUSES),
        )
        .group_by(buyers.c.account_id)
        .subquery()
    )
    tier_id = func.coalesce(LoyaltyAccount.override_tier_id, LoyaltyAccount.tier_id)
    rows = session.execute(
        select(tier_id, func.count(LoyaltyAccount.id), func.sum(revenue.c.total))
        .outerjoin(revenue, revenue.c.account_id == LoyaltyAccount.id)
        .where(LoyaltyAccount.program_id == program_id)
        .group_by(tier_id)
    ).all()
    tiers = {
        tier.id: tier
        for tier in session.scalars(select(LoyaltyTier).where(LoyaltyTier.program_id == program_id))
    }
    values = [
        TierValue(
            tier_code=tiers[tid].code if tid is not None else None,
            members=int(count),
            revenue_minor=int(total or 0),
            # Mean per member, rounded half up to the minor unit (revenue is never negative).
            cltv_minor=(2 * int(total or 0) + int(count)) // (2 * int(count)),
        )
        for tid, count, total in rows
    ]
    rank = {tier.code: tier.rank for tier in tiers.values()}
    # Best tier first, members without a tier last.
    return sorted(values, key=lambda v: (v.tier_code is None, -rank.get(v.tier_code or "", 0)))
