"""Loyalty engagement: badges, challenges, quizzes and referrals of the brand's program.

Definitions, referral terms and the two jobs need the ``admin`` scope; what a store does
for a customer (progress, evaluation, a quiz attempt, a referral code or claim) needs
``loyalty``, like the ledger endpoints. A refused referral claim is not an error: it is
stored and answered ``201`` with ``status: rejected`` and its ``reason``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Header, Path
from pydantic import BaseModel, ConfigDict
from pydantic import Field as PydanticField

from recompra.api.deps import (
    MAX_ID,
    AdminBrand,
    CustomerId,
    LoyaltyBrand,
    LoyaltyWriter,
    OneHopRoute,
    ReadSession,
    WriteSession,
)
from recompra.api.errors import READ_ERRORS, WRITE_ERRORS
from recompra.loyalty.challenges.definitions import (
    define_badge,
    define_challenge,
    program_challenges,
)
from recompra.loyalty.challenges.evaluate import (
    BadgeEarned,
    Completion,
    badge_history,
    customer_progress,
    evaluate_customer,
    evaluate_program,
)
from recompra.loyalty.challenges.progress import Progress
from recompra.loyalty.experiences.service import (
    ExperienceView,
    customer_experiences,
    define_experience,
    redeem_experience,
)
from recompra.loyalty.ledger.results import RedemptionResult
from recompra.loyalty.quizzes.service import (
    AttemptResult,
    Question,
    attempt_quiz,
    define_quiz,
    find_quiz,
    public_questions,
)
from recompra.loyalty.referrals.service import (
    ClaimResult,
    ReferralStats,
    SettleReport,
    claim_referral,
    configure_referrals,
    referral_code,
    referral_stats,
    settle_referrals,
)
from recompra.models.base import utcnow
from recompra.models.engagement import EngagementQuiz
from recompra.reads import loyalty as q
from recompra.reads.customers import visible_customer

router = APIRouter(prefix="/v1/loyalty", tags=["loyalty engagement"], route_class=OneHopRoute)


Code = Annotated[str, PydanticField(min_length=1, max_length=64)]
QuizCode = Annotated[str, Path(min_length=1, max_length=64, description="Quiz code")]


class BadgeIn(BaseModel):
    """A badge (awarded by the challenges that name it)."""

    model_config = ConfigDict(extra="forbid")
    code: Code
    name: str = PydanticField(min_length=1, max_length=200)
    description: str | None = PydanticField(default=None, max_length=500)


class ChallengeIn(BaseModel):
    """``target`` of ``metric`` per ``period`` (``kind=count``) or a streak of months."""

    model_config = ConfigDict(extra="forbid")
    code: Code
    name: str = PydanticField(min_length=1, max_length=200)
    kind: str = "count"
    metric: str
    subject: str | None = PydanticField(default=None, max_length=120)
    target: int = PydanticField(ge=1, le=10_000)
    period: str = "once"
    reward_points: int = PydanticField(default=0, ge=0, le=10**9)
    badge_code: str | None = PydanticField(default=None, max_length=64)
    starts_at: datetime | None = None
    ends_at: datetime | None = None


class ChallengeOut(BaseModel):
    """A challenge of the program."""

    id: int
    code: str
    name: str
    kind: str
    metric: str
    subject: str | None
    target: int
    period: str
    reward_points: int
    starts_at: datetime | None
    ends_at: datetime | None


class CustomerChallenges(BaseModel):
    """Progress on every open challenge and the badge history, newest first."""

    customer_id: int
    challenges: list[Progress]
    badges: list[BadgeEarned]


class QuestionIn(BaseModel):
    """A question, its options and the index of the right one."""

    model_config = ConfigDict(extra="forbid")
    text: str = PydanticField(min_length=1, max_length=500)
    options: list[str] = PydanticField(min_length=2, max_length=10)
    answer: int = PydanticField(ge=0)


class QuizIn(BaseModel):
    """A quiz: ``pass_mark`` right answers earn ``reward_points`` once per ``period``."""

    model_config = ConfigDict(extra="forbid")
    code: Code
    title: str = PydanticField(min_length=1, max_length=200)
    questions: list[QuestionIn] = PydanticField(min_length=1, max_length=50)
    pass_mark: int = PydanticField(ge=1)
    reward_points: int = PydanticField(ge=0, le=10**9)
    period: str = "month"
    reward_coupon: str | None = PydanticField(
        default=None, max_length=120, description="What the coupon issued on passing gives"
    )


class QuizOut(BaseModel):
    """A quiz as a customer sees it (no answers)."""

    code: str
    title: str
    period: str
    pass_mark: int
    reward_points: int
    reward_coupon: str | None
    questions: list[dict[str, object]]


class AttemptIn(BaseModel):
    """A customer's answers, one option index per question."""

    model_config = ConfigDict(extra="forbid")
    customer_id: int = PydanticField(ge=1, le=MAX_ID)
    answers: list[int] = PydanticField(max_length=50)


class ExperienceIn(BaseModel):
    """An experiential reward: a catalogue reward with badge and segment restrictions."""

    model_config = ConfigDict(extra="forbid")
    code: Code
    name: str = PydanticField(min_length=1, max_length=200)
    kind: str = PydanticField(description="'early_access' or 'event_seat'")
    cost_points: int = PydanticField(ge=1, le=10**9)
    capacity: int | None = PydanticField(default=None, ge=0, le=10**9)
    min_tier_rank: int | None = PydanticField(default=None, ge=0, le=1000)
    badge_code: str | None = PydanticField(default=None, max_length=64)
    segment_key: str | None = PydanticField(default=None, max_length=64)
    happens_at: datetime | None = None
    per_customer_limit: int | None = PydanticField(default=1, ge=1, le=10**6)
    description: str | None = PydanticField(default=None, max_length=500)


class ExperienceRedeemIn(BaseModel):
    """Redeem an experience for ``customer_id``."""

    model_config = ConfigDict(extra="forbid")
    customer_id: int = PydanticField(ge=1, le=MAX_ID)
    request_key: str | None = PydanticField(
        default=None,
        min_length=1,
        max_length=100,
        description="Makes the redemption idempotent (default: the Idempotency-Key header)",
    )


class ReferralTermsIn(BaseModel):
    """The program's referral terms."""

    model_config = ConfigDict(extra="forbid")
    referrer_points: int = PydanticField(ge=0, le=10**9)
    friend_points: int = PydanticField(ge=0, le=10**9)
    max_per_referrer: int = PydanticField(default=10, ge=1, le=100_000)
    burst_limit: int = PydanticField(default=3, ge=1, le=100_000)
    burst_window_hours: int = PydanticField(default=24, ge=1, le=24 * 365)


class ReferralCodeOut(BaseModel):
    """The customer's referral code."""

    customer_id: int
    code: str


class ClaimIn(BaseModel):
    """A friend (a customer of the brand) claims a referral code."""

    model_config = ConfigDict(extra="forbid")
    code: str = PydanticField(min_length=1, max_length=32)
    friend_id: int = PydanticField(ge=1, le=MAX_ID)


@router.post(
    "/badges", operation_id="loyalty_define_badge", status_code=201, responses=WRITE_ERRORS
)
def post_badge(body: BadgeIn, brand: AdminBrand, session: WriteSession) -> dict[str, int]:
    """Add a badge to the program."""
    program = q.brand_program(session, brand_id=brand.id)
    badge = define_badge(session, program_id=program.id, **body.model_dump())
    return {"id": badge.id}


@router.post(
    "/challenges",
    operation_id="loyalty_define_challenge",
    response_model=ChallengeOut,
    status_code=201,
    responses=WRITE_ERRORS,
)
def post_challenge(body: ChallengeIn, brand: AdminBrand, session: WriteSession) -> ChallengeOut:
    """Add a challenge to the program."""
    program = q.brand_program(session, brand_id=brand.id)
    challenge = define_challenge(session, program_id=program.id, **body.model_dump())
    return ChallengeOut.model_validate(challenge, from_attributes=True)


@router.get(
    "/challenges",
    operation_id="loyalty_challenges",
    response_model=list[ChallengeOut],
    responses=READ_ERRORS,
)
def challenges(brand: LoyaltyBrand, session: ReadSession) -> list[ChallengeOut]:
    """The challenges open now."""
    program = q.brand_program(session, brand_id=brand.id)
    return [
        ChallengeOut.model_validate(c, from_attributes=True)
        for c in program_challenges(session, program_id=program.id, now=utcnow())
    ]


@router.get(
    "/customers/{customer_id}/challenges",
    operation_id="loyalty_customer_challenges",
    response_model=CustomerChallenges,
    responses=READ_ERRORS,
)
def progress(
    customer_id: CustomerId, brand: LoyaltyBrand, session: ReadSession
) -> CustomerChallenges:
    """The customer's progress on each open challenge and the badges earned."""
    program = q.brand_program(session, brand_id=brand.id)
    customer = visible_customer(session, brand_id=brand.id, customer_id=customer_id)
    rows = customer_progress(session, program_id=program.id, customer_id=customer.id, now=utcnow())
    return CustomerChallenges(
        customer_id=customer.id,
        challenges=rows,
        badges=badge_history(session, program_id=program.id, customer_id=customer.id),
    )


@router.post(
    "/customers/{customer_id}/challenges/evaluate",
    operation_id="loyalty_evaluate_customer",
    response_model=list[Completion],
    responses=WRITE_ERRORS,
)
def evaluate_one(customer_id: CustomerId, writer: LoyaltyWriter) -> list[Completion]:
    """Complete what the customer has reached (after an order or a custom event)."""
    with writer.unit_of_work() as (session, brand):
        program = q.brand_program(session, brand_id=brand.id)
        customer = visible_customer(session, brand_id=brand.id, customer_id=customer_id)
        done = evaluate_customer(
            session, program_id=program.id, customer_id=customer.id, now=utcnow()
        )
    return done


@router.post(
    "/challenges/evaluate",
    operation_id="loyalty_evaluate_program",
    response_model=list[Completion],
    responses=WRITE_ERRORS,
)
def evaluate_all(brand: AdminBrand, session: WriteSession) -> list[Completion]:
    """The challenge job for every member (what ``recompra loyalty challenges evaluate`` runs)."""
    program = q.brand_program(session, brand_id=brand.id)
    return evaluate_program(session, program_id=program.id, now=utcnow())


@router.post(
    "/quizzes",
    operation_id="loyalty_define_quiz",
    response_model=QuizOut,
    status_code=201,
    responses=WRITE_ERRORS,
)
def post_quiz(body: QuizIn, brand: AdminBrand, session: WriteSession) -> QuizOut:
    """Add a quiz to the program."""
    program = q.brand_program(session, brand_id=brand.id)
    quiz = define_quiz(
        session,
        program_id=program.id,
        code=body.code,
        title=body.title,
        questions=[Question(x.text, tuple(x.options), x.answer) for x in body.questions],
        pass_mark=body.pass_mark,
        reward_points=body.reward_points,
        period=body.period,
        reward_coupon=body.reward_coupon,
    )
    return _quiz_view(quiz)


def _quiz_view(quiz: EngagementQuiz) -> QuizOut:
    return QuizOut(
        code=quiz.code,
        title=quiz.title,
        period=quiz.period,
        pass_mark=quiz.pass_mark,
        reward_points=quiz.reward_points,
        reward_coupon=quiz.reward_coupon,
        questions=public_questions(quiz),
    )


@router.get(
    "/quizzes/{quiz_code}",
    operation_id="loyalty_quiz",
    response_model=QuizOut,
    responses=READ_ERRORS,
)
def quiz(quiz_code: QuizCode, brand: LoyaltyBrand, session: ReadSession) -> QuizOut:
    """A quiz's questions and options (never the answers)."""
    program = q.brand_program(session, brand_id=brand.id)
    return _quiz_view(find_quiz(session, program_id=program.id, code=quiz_code))


@router.post(
    "/quizzes/{quiz_code}/attempts",
    operation_id="loyalty_quiz_attempt",
    response_model=AttemptResult,
    status_code=201,
    responses=WRITE_ERRORS,
)
def attempt(quiz_code: QuizCode, body: AttemptIn, writer: LoyaltyWriter) -> AttemptResult:
    """Score the customer's one attempt of the period; 409 if already taken."""
    with writer.unit_of_work() as (session, brand):
        program = q.brand_program(session, brand_id=brand.id)
        customer = visible_customer(session, brand_id=brand.id, customer_id=body.customer_id)
        result = attempt_quiz(
            session,
            program_id=program.id,
            customer_id=customer.id,
            quiz_code=quiz_code,
            answers=body.answers,
            now=utcnow(),
        )
    return result


@router.put(
    "/referrals/terms",
    operation_id="loyalty_referral_terms",
    response_model=ReferralTermsIn,
    responses=WRITE_ERRORS,
)
def put_terms(body: ReferralTermsIn, brand: AdminBrand, session: WriteSession) -> ReferralTermsIn:
    """Set the program's referral terms (rewards, limit per referrer, burst guard)."""
    program = q.brand_program(session, brand_id=brand.id)
    configure_referrals(session, program_id=program.id, **body.model_dump())
    return body


@router.post(
    "/customers/{customer_id}/referral-code",
    operation_id="loyalty_referral_code",
    response_model=ReferralCodeOut,
    responses=WRITE_ERRORS,
)
def code(customer_id: CustomerId, writer: LoyaltyWriter) -> ReferralCodeOut:
    """The customer's referral code (created on first ask, then always the same)."""
    with writer.unit_of_work() as (session, brand):
        program = q.brand_program(session, brand_id=brand.id)
        customer = visible_customer(session, brand_id=brand.id, customer_id=customer_id)
        value = referral_code(session, program_id=program.id, customer_id=customer.id, now=utcnow())
    return ReferralCodeOut(customer_id=customer.id, code=value)


@router.post(
    "/referrals/claims",
    operation_id="loyalty_referral_claim",
    response_model=ClaimResult,
    status_code=201,
    responses=WRITE_ERRORS,
)
def claim(body: ClaimIn, writer: LoyaltyWriter) -> ClaimResult:
    """Record a friend's claim; the fraud guards' refusal is stored with its reason."""
    with writer.unit_of_work() as (session, brand):
        program = q.brand_program(session, brand_id=brand.id)
        friend = visible_customer(session, brand_id=brand.id, customer_id=body.friend_id)
        result = claim_referral(
            session, program_id=program.id, code=body.code, friend_id=friend.id, now=utcnow()
        )
    return result


@router.post(
    "/referrals/settle",
    operation_id="loyalty_referral_settle",
    response_model=SettleReport,
    responses=WRITE_ERRORS,
)
def settle(brand: AdminBrand, session: WriteSession) -> SettleReport:
    """The referral job: hold rewards on first orders, release or void those past the window."""
    program = q.brand_program(session, brand_id=brand.id)
    return settle_referrals(session, program_id=program.id, now=utcnow())


@router.get(
    "/referrals/stats",
    operation_id="loyalty_referral_stats",
    response_model=ReferralStats,
    responses=READ_ERRORS,
)
def stats(brand: LoyaltyBrand, session: ReadSession) -> ReferralStats:
    """Claims by outcome and the referral conversion."""
    program = q.brand_program(session, brand_id=brand.id)
    return referral_stats(session, program_id=program.id)


@router.post(
    "/experiences",
    operation_id="loyalty_define_experience",
    status_code=201,
    responses=WRITE_ERRORS,
)
def post_experience(body: ExperienceIn, brand: AdminBrand, session: WriteSession) -> dict[str, int]:
    """Add an experiential reward (early access, an event seat with capacity)."""
    program = q.brand_program(session, brand_id=brand.id)
    experience = define_experience(session, program_id=program.id, **body.model_dump())
    return {"reward_id": experience.reward_id}


@router.get(
    "/customers/{customer_id}/experiences",
    operation_id="loyalty_customer_experiences",
    response_model=list[ExperienceView],
    responses=READ_ERRORS,
)
def experiences(
    customer_id: CustomerId, brand: LoyaltyBrand, session: ReadSession
) -> list[ExperienceView]:
    """The experiences on offer and, for each, whether the customer may redeem it."""
    program = q.brand_program(session, brand_id=brand.id)
    customer = visible_customer(session, brand_id=brand.id, customer_id=customer_id)
    return customer_experiences(
        session, program_id=program.id, customer_id=customer.id, now=utcnow()
    )


@router.post(
    "/experiences/{code}/redemptions",
    operation_id="loyalty_redeem_experience",
    response_model=RedemptionResult,
    status_code=201,
    responses=WRITE_ERRORS,
)
def redeem_one(
    code: Annotated[str, Path(min_length=1, max_length=64, description="Experience code")],
    body: ExperienceRedeemIn,
    writer: LoyaltyWriter,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> RedemptionResult:
    """Spend points on an experience; 409 ``experience_restricted`` names what is missing."""
    key = body.request_key or idempotency_key or f"api-{uuid.uuid4()}"
    with writer.unit_of_work() as (session, brand):
        program = q.brand_program(session, brand_id=brand.id)
        customer = visible_customer(session, brand_id=brand.id, customer_id=body.customer_id)
        return redeem_experience(
            session,
            program_id=program.id,
            customer_id=customer.id,
            code=code,
            request_key=key,
            now=utcnow(),
        )
