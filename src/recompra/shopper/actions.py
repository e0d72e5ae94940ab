"""What a signed-in shopper can do: take a quiz, redeem a reward or an experience, get
their referral code, claim a friend's code. Each is the loyalty use case the brand's API
runs, called with the session's customer (never an id from the request) and the
brand's program, inside the caller's unit of work.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from recompra.errors import NotFound
from recompra.loyalty.experiences.service import redeem_experience
from recompra.loyalty.ledger.results import RedemptionResult
from recompra.loyalty.programs import active_program_for_brand
from recompra.loyalty.quizzes.service import AttemptResult, attempt_quiz
from recompra.loyalty.referrals.service import ClaimResult, claim_referral, referral_code
from recompra.loyalty.rewards.redemption import redeem
from recompra.models.engagement import EngagementExperience
from recompra.models.loyalty import LoyaltyProgram, LoyaltyReward
from recompra.shopper.signin import Shopper


def _program(session: Session, shopper: Shopper) -> LoyaltyProgram:
    program = active_program_for_brand(session, brand_id=shopper.brand_id)
    if program is None:
        raise NotFound("this brand runs no loyalty program", field="brand")
    return program


def take_quiz(
    session: Session, *, shopper: Shopper, quiz_code: str, answers: list[int], now: datetime
) -> AttemptResult:
    """The shopper's one attempt at a quiz this period."""
    program = _program(session, shopper)
    return attempt_quiz(
        session,
        program_id=program.id,
        customer_id=shopper.customer_id,
        quiz_code=quiz_code,
        answers=answers,
        now=now,
    )


def redeem_for_shopper(
    session: Session, *, shopper: Shopper, reward_code: str, request_key: str, now: datetime
) -> RedemptionResult:
    """Redeem a catalogue reward or an experience (its tier, badge and segment checked),
    at the brand of the page (a coalition member brand records where it was honoured)."""
    program = _program(session, shopper)
    is_experience = session.scalar(
        select(EngagementExperience.reward_id)
        .join(LoyaltyReward, LoyaltyReward.id == EngagementExperience.reward_id)
        .where(LoyaltyReward.program_id == program.id, LoyaltyReward.code == reward_code)
    )
    # One redemption per request key and shopper: a retried tap is not a second spend.
    key = f"shopper:{shopper.customer_id}:{request_key}"
    if is_experience is not None:
        return redeem_experience(
            session,
            program_id=program.id,
            customer_id=shopper.customer_id,
            code=reward_code,
            request_key=key,
            now=now,
        )
    return redeem(
        session,
        program_id=program.id,
        customer_id=shopper.customer_id,
        reward_code=reward_code,
        request_key=key,
        now=now,
        brand_id=shopper.brand_id if shopper.brand_id != program.brand_id else None,
    )


def my_referral_code(session: Session, *, shopper: Shopper, now: datetime) -> str:
    """The shopper's referral code (created on first ask)."""
    program = _program(session, shopper)
    return referral_code(session, program_id=program.id, customer_id=shopper.customer_id, now=now)


def claim_code(session: Session, *, shopper: Shopper, code: str, now: datetime) -> ClaimResult:
    """The shopper claims a friend's referral code (the fraud guards decide)."""
    program = _program(session, shopper)
    return claim_referral(
        session, program_id=program.id, code=code, friend_id=shopper.customer_id, now=now
    )
