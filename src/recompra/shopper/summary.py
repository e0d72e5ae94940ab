"""Everything the shopper's page shows, read for one signed-in customer at one brand.

Each figure comes from the loyalty function the API's brand-scoped endpoints use
(``balances.points_as_of``, ``challenges.evaluate.customer_progress``,
``experiences.customer_experiences``, ``pools.pool_summary``...), so the page, the
``/v1/shopper`` API and the dashboard agree. Points come from the lots as of now: an
expired lot never shows, even before the expiry job runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from recompra.loyalty.balances import PointsAsOf, points_as_of
from recompra.loyalty.challenges.evaluate import BadgeEarned, badge_history, customer_progress
from recompra.loyalty.challenges.periods import period_key
from recompra.loyalty.challenges.progress import Progress
from recompra.loyalty.coalition import coalition_brands
from recompra.loyalty.experiences.service import ExperienceView, customer_experiences
from recompra.loyalty.pools import PoolSummary, pool_summary
from recompra.loyalty.programs import active_program_for_brand, find_account
from recompra.loyalty.quizzes.service import public_questions
from recompra.loyalty.tiers.service import effective_tier, program_tiers, qualification
from recompra.models import Brand, Customer
from recompra.models.engagement import (
    EngagementExperience,
    EngagementQuiz,
    EngagementQuizAttempt,
    EngagementReferralCode,
)
from recompra.models.loyalty import (
    LoyaltyAccount,
    LoyaltyMovement,
    LoyaltyProgram,
    LoyaltyRedemption,
    LoyaltyReward,
)
from recompra.shopper.signin import Shopper


@dataclass(frozen=True)
class TierProgress:
    """The tier now and how far the next one is (``None`` fields: no tier / top tier)."""

    code: str | None
    name: str | None
    next_code: str | None
    next_name: str | None
    metric: str | None
    current: int
    threshold: int | None


@dataclass(frozen=True)
class QuizCard:
    """A quiz the shopper can take, or took this period, with its result."""

    code: str
    title: str
    reward_points: int
    reward_coupon: str | None
    questions: list[dict[str, Any]]
    taken: bool
    passed: bool | None
    coupon_code: str | None


@dataclass(frozen=True)
class RewardCard:
    """A catalogue reward (not an experience) and whether the points cover it now."""

    code: str
    name: str
    cost_points: int
    stock: int | None
    affordable: bool


@dataclass(frozen=True)
class RedeemedCard:
    """A reward this shopper redeemed (the coupon or ticket)."""

    reward: str
    points: int
    coupon_code: str
    status: str
    created_at: datetime


@dataclass(frozen=True)
class ShopperPage:
    """The shopper's page for one customer at one brand."""

    brand_name: str
    first_name: str | None
    program_name: str | None
    points: PointsAsOf | None
    tier: TierProgress | None
    challenges: list[Progress]
    badges: list[BadgeEarned]
    quizzes: list[QuizCard]
    referral_code: str | None
    rewards: list[RewardCard]
    experiences: list[ExperienceView]
    redeemed: list[RedeemedCard]
    pool: PoolSummary | None
    coalition_brands: list[str]


def shopper_page(session: Session, *, shopper: Shopper, now: datetime) -> ShopperPage:
    """Read the page of the session's customer (nothing of anyone else's)."""
    brand = session.get_one(Brand, shopper.brand_id)
    customer = session.get_one(Customer, shopper.customer_id)
    first_name = (customer.name or "").split(" ")[0] or None
    program = active_program_for_brand(session, brand_id=brand.id)
    if program is None:
        return ShopperPage(
            brand.name, first_name, None, None, None, [], [], [], None, [], [], [], None, []
        )
    who = {"program_id": program.id, "customer_id": customer.id}
    points = points_as_of(session, **who, now=now)
    account = find_account(session, **who)
    pool = (
        pool_summary(
            session,
            program_id=program.id,
            company_account_id=account.company_account_id,
            now=now,
        )
        if account is not None and account.company_account_id is not None
        else None
    )
    members = coalition_brands(session, program_id=program.id)
    brand_names: list[str] = (
        list(session.scalars(select(Brand.name).where(Brand.id.in_(members)).order_by(Brand.name)))
        if len(members) > 1
        else []
    )
    return ShopperPage(
        brand_name=brand.name,
        first_name=first_name,
        program_name=program.name,
        points=points,
        tier=_tier_progress(session, program=program, account=account, now=now),
        challenges=customer_progress(session, **who, now=now),
        badges=badge_history(session, **who),
        quizzes=_quizzes(session, **who, now=now),
        referral_code=session.scalar(
            select(EngagementReferralCode.code).where(
                EngagementReferralCode.program_id == program.id,
                EngagementReferralCode.customer_id == customer.id,
            )
        ),
        rewards=_rewards(session, program_id=program.id, available=points.available, now=now),
        experiences=customer_experiences(session, **who, now=now),
        redeemed=_redeemed(session, account_id=points.account_id, customer_id=customer.id),
        pool=pool,
        coalition_brands=brand_names,
    )


def _tier_progress(
    session: Session, *, program: LoyaltyProgram, account: LoyaltyAccount | None, now: datetime
) -> TierProgress | None:
    tiers = program_tiers(session, program_id=program.id)
    if not tiers:
        return None
    current = effective_tier(session, account=account, now=now) if account else None
    rank = current.rank if current is not None else -1
    # Tiers come best first: the next one up is the last of those ranked above.
    above = [t for t in tiers if t.rank > rank]
    following = above[-1] if above else None
    value = 0
    if following is not None and account is not None:
        values = qualification(session, account=account, program=program, now=now)
        value = values[following.metric]
    return TierProgress(
        code=current.code if current else None,
        name=current.name if current else None,
        next_code=following.code if following else None,
        next_name=following.name if following else None,
        metric=following.metric if following else None,
        current=value,
        threshold=following.threshold if following else None,
    )


def _quizzes(
    session: Session, *, program_id: int, customer_id: int, now: datetime
) -> list[QuizCard]:
    cards = []
    quizzes = session.scalars(
        select(EngagementQuiz)
        .where(EngagementQuiz.program_id == program_id, EngagementQuiz.active)
        .order_by(EngagementQuiz.id)
    )
    for quiz in quizzes:
        attempt = session.scalar(
            select(EngagementQuizAttempt).where(
                EngagementQuizAttempt.quiz_id == quiz.id,
                EngagementQuizAttempt.customer_id == customer_id,
                EngagementQuizAttempt.period_key == period_key(quiz.period, now),
            )
        )
        cards.append(
            QuizCard(
                code=quiz.code,
                title=quiz.title,
                reward_points=quiz.reward_points,
                reward_coupon=quiz.reward_coupon,
                questions=public_questions(quiz),
                taken=attempt is not None,
                passed=attempt.passed if attempt is not None else None,
                coupon_code=attempt.coupon_code if attempt is not None else None,
            )
        )
    return cards


def _rewards(
    session: Session, *, program_id: int, available: int, now: datetime
) -> list[RewardCard]:
    """Active catalogue rewards valid now; experiences are listed with their restrictions."""
    rewards = session.scalars(
        select(LoyaltyReward)
        .outerjoin(EngagementExperience, EngagementExperience.reward_id == LoyaltyReward.id)
        .where(
            LoyaltyReward.program_id == program_id,
            LoyaltyReward.active,
            EngagementExperience.reward_id.is_(None),
        )
        .order_by(LoyaltyReward.cost_points, LoyaltyReward.code)
    )
    return [
        RewardCard(r.code, r.name, r.cost_points, r.stock, r.cost_points <= available)
        for r in rewards
        if (r.valid_from is None or r.valid_from <= now)
        and (r.valid_until is None or r.valid_until > now)
    ]


def _redeemed(session: Session, *, account_id: int | None, customer_id: int) -> list[RedeemedCard]:
    """This customer's own redemptions (on a pool: the ones they made, not their colleagues')."""
    if account_id is None:
        return []
    rows = session.execute(
        select(LoyaltyRedemption, LoyaltyReward.name)
        .join(LoyaltyReward, LoyaltyReward.id == LoyaltyRedemption.reward_id)
        .join(LoyaltyMovement, LoyaltyMovement.id == LoyaltyRedemption.movement_id)
        .where(
            LoyaltyRedemption.account_id == account_id,
            LoyaltyMovement.customer_id == customer_id,
        )
        .order_by(LoyaltyRedemption.created_at.desc(), LoyaltyRedemption.id.desc())
        .limit(20)
    ).all()
    return [RedeemedCard(name, r.points, r.coupon_code, r.status, r.created_at) for r, name in rows]
