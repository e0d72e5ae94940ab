"""Engagement beyond points: badges, challenges, quizzes and referrals of a loyalty program.

Points these mechanics grant live in the loyalty ledger (``models/loyalty.py``); the rows
here record *why* (a completion, a passed attempt, a released referral) and carry the
unique keys that make each reward happen once per customer and period.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from recompra.models.base import Base, BigIntPK, ProgramOwned, utcnow

CHALLENGE_METRICS = ("orders", "category_orders", "reviews", "event", "quiz_passes", "referrals")
PERIODS = ("once", "month", "quarter", "year")
REFERRAL_STATUSES = ("claimed", "pending", "released", "void", "rejected")


class EngagementBadge(ProgramOwned, Base):
    """A badge a program awards (on completing a challenge)."""

    __tablename__ = "engagement_badges"
    __table_args__ = (UniqueConstraint("program_id", "code"),)

    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class EngagementChallenge(ProgramOwned, Base):
    """A challenge: reach ``target`` of ``metric`` within a period, or a monthly streak.

    ``kind='count'`` counts the metric inside the period (or inside ``starts_at`` ..
    ``ends_at``); ``kind='streak'`` needs ``target`` consecutive calendar months with at
    least one order each. ``period`` is how often a customer may complete it.
    """

    __tablename__ = "engagement_challenges"
    __table_args__ = (
        UniqueConstraint("program_id", "code"),
        CheckConstraint("kind IN ('count', 'streak')", name="kind_known"),
        CheckConstraint("target >= 1", name="target_positive"),
        CheckConstraint("reward_points >= 0", name="reward_non_negative"),
    )

    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    metric: Mapped[str] = mapped_column(String(32))
    #: Category slug (``category_orders``) or event type (``event``).
    subject: Mapped[str | None] = mapped_column(String(120))
    target: Mapped[int] = mapped_column(Integer)
    period: Mapped[str] = mapped_column(String(16), default="once")
    reward_points: Mapped[int] = mapped_column(BigInteger, default=0)
    badge_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("engagement_badges.id"))
    starts_at: Mapped[datetime | None]
    ends_at: Mapped[datetime | None]
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class EngagementCompletion(Base):
    """A customer completed a challenge in a period (at most once: the unique key)."""

    __tablename__ = "engagement_completions"
    __table_args__ = (UniqueConstraint("challenge_id", "customer_id", "period_key"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    challenge_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("engagement_challenges.id"), index=True
    )
    customer_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("customers.id"))
    period_key: Mapped[str] = mapped_column(String(16))
    points: Mapped[int] = mapped_column(BigInteger, default=0)
    movement_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("loyalty_movements.id"))
    completed_at: Mapped[datetime]


class EngagementBadgeAward(Base):
    """Badge history: a badge earned by a customer (once per challenge period)."""

    __tablename__ = "engagement_badge_awards"
    __table_args__ = (
        UniqueConstraint("badge_id", "customer_id", "period_key"),
        Index("ix_engagement_badge_awards_customer", "customer_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    badge_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("engagement_badges.id"))
    customer_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("customers.id"))
    challenge_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("engagement_challenges.id")
    )
    period_key: Mapped[str] = mapped_column(String(16))
    awarded_at: Mapped[datetime]


class EngagementQuiz(ProgramOwned, Base):
    """A product-knowledge quiz: ``questions`` holds ``{"items": [{text, options, answer}]}``."""

    __tablename__ = "engagement_quizzes"
    __table_args__ = (
        UniqueConstraint("program_id", "code"),
        CheckConstraint("pass_mark >= 1", name="pass_mark_positive"),
        CheckConstraint("reward_points >= 0", name="reward_non_negative"),
    )

    code: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    questions: Mapped[dict[str, Any]]
    #: Correct answers needed to pass.
    pass_mark: Mapped[int] = mapped_column(Integer)
    reward_points: Mapped[int] = mapped_column(BigInteger, default=0)
    #: What a coupon won by passing gives (e.g. "10% off the next order"); empty = none.
    reward_coupon: Mapped[str | None] = mapped_column(String(120))
    period: Mapped[str] = mapped_column(String(16), default="month")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class EngagementQuizAttempt(Base):
    """A customer's one attempt at a quiz in a period, with the answers given."""

    __tablename__ = "engagement_quiz_attempts"
    __table_args__ = (
        UniqueConstraint("quiz_id", "customer_id", "period_key"),
        UniqueConstraint("coupon_code"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    quiz_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("engagement_quizzes.id"))
    customer_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("customers.id"), index=True)
    period_key: Mapped[str] = mapped_column(String(16))
    answers: Mapped[dict[str, Any]]
    correct: Mapped[int] = mapped_column(Integer)
    passed: Mapped[bool] = mapped_column(Boolean)
    points: Mapped[int] = mapped_column(BigInteger, default=0)
    #: The coupon a pass issued when the quiz rewards one.
    coupon_code: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime]


class EngagementReferralSettings(Base):
    """A program's referral terms: both rewards, the limit per referrer, the burst guard."""

    __tablename__ = "engagement_referral_settings"

    program_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("loyalty_programs.id"), primary_key=True
    )
    referrer_points: Mapped[int] = mapped_column(BigInteger)
    friend_points: Mapped[int] = mapped_column(BigInteger)
    max_per_referrer: Mapped[int] = mapped_column(Integer, default=10)
    burst_limit: Mapped[int] = mapped_column(Integer, default=3)
    burst_window_hours: Mapped[int] = mapped_column(Integer, default=24)


class EngagementReferralCode(ProgramOwned, Base):
    """A customer's referral code in a program (one each)."""

    __tablename__ = "engagement_referral_codes"
    __table_args__ = (UniqueConstraint("program_id", "customer_id"), UniqueConstraint("code"))

    customer_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("customers.id"))
    code: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]


class EngagementReferral(ProgramOwned, Base):
    """A friend's claim of a referral code and what became of it.

    ``claimed`` (no qualifying order yet) -> ``pending`` (first order placed, both rewards
    held as pending points) -> ``released`` (the order outlived its return window) or
    ``void`` (returned or cancelled first). A claim the fraud guards refuse is stored as
    ``rejected`` with its ``reason``.
    """

    __tablename__ = "engagement_referrals"
    __table_args__ = (
        CheckConstraint(
            "status IN ('claimed', 'pending', 'released', 'void', 'rejected')",
            name="status_known",
        ),
        Index("ix_engagement_referrals_referrer", "program_id", "referrer_id"),
        Index("ix_engagement_referrals_friend", "program_id", "friend_id"),
    )

    referrer_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("customers.id"))
    friend_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("customers.id"))
    code: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(64))
    order_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("orders.id"))
    release_at: Mapped[datetime | None]
    referrer_lot_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("loyalty_lots.id"))
    friend_lot_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("loyalty_lots.id"))
    created_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]


class EngagementExperience(Base):
    """An experiential reward: access, not a discount (early access, an event seat).

    It *is* a catalogue reward (``loyalty_rewards``: cost, capacity as stock, tier, limit
    per customer) with the restrictions a discount never has: a badge the customer must
    hold and a live segment the customer must be in.
    """

    __tablename__ = "engagement_experiences"
    __table_args__ = (CheckConstraint("kind IN ('early_access', 'event_seat')", name="kind_known"),)

    reward_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("loyalty_rewards.id"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    badge_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("engagement_badges.id"))
    segment_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("segments.id"))
    happens_at: Mapped[datetime | None]
    description: Mapped[str | None] = mapped_column(String(500))
