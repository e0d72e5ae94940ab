"""Quizzes: define one, take it once per period, get its bonus points (and, if the quiz
offers one, a coupon) on passing.

Farming is impossible by construction: the attempt is checked and stored under the
customer's account lock (``BEGIN IMMEDIATE`` on SQLite, ``FOR UPDATE`` on PostgreSQL),
``(quiz, customer, period)`` is unique in the table, and the bonus is a ledger grant
keyed by the same triple. A second post in the period, concurrent or not, is refused
and writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from recompra.errors import Conflict, InvalidInput, NotFound
from recompra.loyalty.challenges.definitions import store_definition
from recompra.loyalty.challenges.periods import check_period, period_key
from recompra.loyalty.operations.context import locked_account
from recompra.loyalty.operations.grant import grant_points
from recompra.loyalty.programs import get_program
from recompra.loyalty.rewards.catalog import new_coupon_code
from recompra.models.base import utcnow
from recompra.models.engagement import EngagementQuiz, EngagementQuizAttempt

MAX_QUESTIONS = 50
MAX_OPTIONS = 10


class QuizAlreadyAttempted(Conflict):
    """The customer already took this quiz in the current period."""

    code = "quiz_already_attempted"


@dataclass(frozen=True)
class Question:
    """A question, its options and the index of the right one."""

    text: str
    options: tuple[str, ...]
    answer: int


@dataclass(frozen=True)
class AttemptResult:
    """The outcome of an attempt."""

    attempt_id: int
    quiz_code: str
    period_key: str
    correct: int
    questions: int
    pass_mark: int
    passed: bool
    points: int
    #: The coupon the pass issued (``None``: the quiz offers none, or no pass).
    coupon_code: str | None = None


#: Longest description of a quiz's coupon (what it gives).
MAX_COUPON_TEXT = 120


def define_quiz(
    session: Session,
    *,
    program_id: int,
    code: str,
    title: str,
    questions: list[Question],
    pass_mark: int,
    reward_points: int,
    period: str = "month",
    reward_coupon: str | None = None,
) -> EngagementQuiz:
    """Add a quiz; ``pass_mark`` is the number of right answers needed; ``reward_coupon``
    says what the coupon issued on passing gives (none when empty)."""
    program = get_program(session, program_id=program_id, active=True)
    check_period(period)
    if not 1 <= len(questions) <= MAX_QUESTIONS:
        raise InvalidInput(f"a quiz has 1-{MAX_QUESTIONS} questions", field="questions")
    for q in questions:
        if not 2 <= len(q.options) <= MAX_OPTIONS or not 0 <= q.answer < len(q.options):
            raise InvalidInput(
                f"question {q.text!r} needs 2-{MAX_OPTIONS} options and a valid answer",
                field="questions",
            )
    if not 1 <= pass_mark <= len(questions):
        raise InvalidInput(
            "pass_mark must be between 1 and the number of questions", field="pass_mark"
        )
    if reward_points < 0:
        raise InvalidInput("reward_points cannot be negative", field="reward_points")
    coupon = (reward_coupon or "").strip() or None
    if coupon is not None and len(coupon) > MAX_COUPON_TEXT:
        raise InvalidInput(
            f"reward_coupon has at most {MAX_COUPON_TEXT} characters", field="reward_coupon"
        )
    quiz = EngagementQuiz(
        program_id=program.id,
        code=code,
        title=title,
        questions={
            "items": [
                {"text": q.text, "options": list(q.options), "answer": q.answer} for q in questions
            ]
        },
        pass_mark=pass_mark,
        reward_points=reward_points,
        reward_coupon=coupon,
        period=period,
        active=True,
        created_at=utcnow(),
    )
    return store_definition(session, quiz, what=f"quiz {code!r}")


def find_quiz(session: Session, *, program_id: int, code: str) -> EngagementQuiz:
    """An active quiz of the program by code."""
    quiz = session.scalar(
        select(EngagementQuiz).where(
            EngagementQuiz.program_id == program_id,
            EngagementQuiz.code == code,
            EngagementQuiz.active,
        )
    )
    if quiz is None:
        raise NotFound(f"quiz {code!r} not found", field="quiz")
    return quiz


def public_questions(quiz: EngagementQuiz) -> list[dict[str, Any]]:
    """The questions as a customer sees them (without the answers)."""
    return [{"text": q["text"], "options": q["options"]} for q in quiz.questions["items"]]


def attempt_quiz(
    session: Session,
    *,
    program_id: int,
    customer_id: int,
    quiz_code: str,
    answers: list[int],
    now: datetime,
) -> AttemptResult:
    """Score the answers, store the attempt and grant the bonus if it passes (once)."""
    quiz = find_quiz(session, program_id=program_id, code=quiz_code)
    items = quiz.questions["items"]
    if len(answers) != len(items):
        raise InvalidInput(
            f"give one answer for each of the {len(items)} questions", field="answers"
        )
    account = locked_account(session, program_id=program_id, customer_id=customer_id)
    key = period_key(quiz.period, now)
    taken = session.scalar(
        select(EngagementQuizAttempt.id).where(
            EngagementQuizAttempt.quiz_id == quiz.id,
            EngagementQuizAttempt.customer_id == customer_id,
            EngagementQuizAttempt.period_key == key,
        )
    )
    if taken is not None:
        raise QuizAlreadyAttempted(f"quiz {quiz.code!r} was already taken in period {key}")
    correct = sum(1 for given, q in zip(answers, items, strict=True) if given == q["answer"])
    passed = correct >= quiz.pass_mark
    points = 0
    if passed:
        points = grant_points(
            session,
            program_id=program_id,
            customer_id=account.customer_id,
            source="quiz",
            key=f"{quiz.id}:{customer_id}:{key}",
            points=quiz.reward_points,
            now=now,
        ).points
    # Issued under the same lock and unique key as the attempt: one coupon per pass.
    coupon_code = new_coupon_code() if passed and quiz.reward_coupon else None
    attempt = EngagementQuizAttempt(
        quiz_id=quiz.id,
        customer_id=customer_id,
        period_key=key,
        answers={"given": answers},
        correct=correct,
        passed=passed,
        points=points,
        coupon_code=coupon_code,
        created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(attempt)
            session.flush()
    except IntegrityError as exc:
        # Only reachable if the account lock was bypassed; the unique key still holds.
        raise QuizAlreadyAttempted(f"quiz {quiz.code!r} is being taken concurrently") from exc
    return AttemptResult(
        attempt_id=attempt.id,
        quiz_code=quiz.code,
        period_key=key,
        correct=correct,
        questions=len(items),
        pass_mark=quiz.pass_mark,
        passed=passed,
        points=points,
        coupon_code=coupon_code,
    )


def define_from_document(session: Session, *, program_id: int, document: dict[str, Any]) -> int:
    """Define ``{"quizzes": [{code, title, questions: [{text, options, answer}], ...}]}``."""
    quizzes = document.get("quizzes")
    if not isinstance(quizzes, list):
        raise InvalidInput("'quizzes' must be a list", field="quizzes")
    for item in quizzes:
        try:
            questions = [
                Question(text=str(q["text"]), options=tuple(q["options"]), answer=int(q["answer"]))
                for q in item["questions"]
            ]
            define_quiz(
                session,
                program_id=program_id,
                code=str(item["code"]),
                title=str(item["title"]),
                questions=questions,
                pass_mark=int(item["pass_mark"]),
                reward_points=int(item.get("reward_points", 0)),
                period=str(item.get("period", "month")),
                reward_coupon=item.get("reward_coupon"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(f"malformed quiz: {exc!s}", field="quizzes") from exc
    return len(quizzes)
