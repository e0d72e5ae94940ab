"""Engagement reads of a program (dashboard): challenge completions, quiz pass rates,
referral outcomes and the fraud guards' refusals by reason."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from recompra.loyalty.referrals.service import ReferralStats, referral_stats
from recompra.models.engagement import (
    EngagementChallenge,
    EngagementCompletion,
    EngagementQuiz,
    EngagementQuizAttempt,
    EngagementReferral,
    EngagementReferralSettings,
)


@dataclass(frozen=True)
class ChallengeLine:
    """A challenge and how many times it was completed (all periods)."""

    code: str
    name: str
    kind: str
    target: int
    period: str
    reward_points: int
    completions: int


@dataclass(frozen=True)
class QuizLine:
    """A quiz, its attempts and passes."""

    code: str
    title: str
    attempts: int
    passed: int


@dataclass(frozen=True)
class EngagementOverview:
    """Every engagement mechanic of a program, for the loyalty page."""

    challenges: list[ChallengeLine]
    quizzes: list[QuizLine]
    referrals: ReferralStats | None
    rejections: list[tuple[str, int]]

    @property
    def empty(self) -> bool:
        """Whether the program runs no engagement mechanic at all."""
        return not self.challenges and not self.quizzes and self.referrals is None


def engagement_overview(session: Session, *, program_id: int) -> EngagementOverview:
    """Challenges with completions, quizzes with passes, referrals with refusals by reason."""
    challenges = [
        ChallengeLine(*row)
        for row in session.execute(
            select(
                EngagementChallenge.code,
                EngagementChallenge.name,
                EngagementChallenge.kind,
                EngagementChallenge.target,
                EngagementChallenge.period,
                EngagementChallenge.reward_points,
                func.count(EngagementCompletion.id),
            )
            .outerjoin(
                EngagementCompletion, EngagementCompletion.challenge_id == EngagementChallenge.id
            )
            .where(EngagementChallenge.program_id == program_id)
            .group_by(EngagementChallenge.id)
            .order_by(EngagementChallenge.id)
        )
    ]
    quizzes = [
        QuizLine(code, title, int(attempts), int(passed or 0))
        for code, title, attempts, passed in session.execute(
            select(
                EngagementQuiz.code,
                EngagementQuiz.title,
                func.count(EngagementQuizAttempt.id),
                func.sum(case((EngagementQuizAttempt.passed, 1), else_=0)),
            )
            .outerjoin(EngagementQuizAttempt, EngagementQuizAttempt.quiz_id == EngagementQuiz.id)
            .where(EngagementQuiz.program_id == program_id)
            .group_by(EngagementQuiz.id)
            .order_by(EngagementQuiz.id)
        )
    ]
    runs_referrals = session.get(EngagementReferralSettings, program_id) is not None
    rejections = [
        (str(reason), int(count))
        for reason, count in session.execute(
            select(EngagementReferral.reason, func.count(EngagementReferral.id))
            .where(
                EngagementReferral.program_id == program_id,
                EngagementReferral.status == "rejected",
            )
            .group_by(EngagementReferral.reason)
            .order_by(func.count(EngagementReferral.id).desc(), EngagementReferral.reason)
        )
    ]
    return EngagementOverview(
        challenges=challenges,
        quizzes=quizzes,
        referrals=referral_stats(session, program_id=program_id) if runs_referrals else None,
        rejections=rejections,
    )
