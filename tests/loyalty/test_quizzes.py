"""Quizzes: scoring, one attempt per period, bonus once, no farming even concurrently."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from recompra.db import unit_of_work
from recompra.errors import InvalidInput, RecompraError
from recompra.loyalty import get_account, verify_account
from recompra.loyalty.quizzes.service import (
    AttemptResult,
    Question,
    QuizAlreadyAttempted,
    attempt_quiz,
    define_quiz,
)
from recompra.models.engagement import EngagementQuizAttempt

from .conftest import World

NOW = datetime(2025, 6, 10, 12, tzinfo=UTC)
QUESTIONS = [
    Question(text="Qual o prazo de troca?", options=("7 dias", "30 dias"), answer=0),
    Question(text="O frete é grátis acima de?", options=("R$ 99", "R$ 199", "R$ 299"), answer=1),
    Question(text="A linha vegana usa?", options=("couro", "algodão orgânico"), answer=1),
]


def _quiz(world: World, *, reward_points: int = 50, reward_coupon: str | None = None) -> int:
    _brand, program = world.program()
    with unit_of_work(world.engine) as s:
        define_quiz(
            s,
            program_id=program,
            code="q1",
            title="Conheça a marca",
            questions=QUESTIONS,
            pass_mark=2,
            reward_points=reward_points,
            reward_coupon=reward_coupon,
        )
    return program


def _attempt(
    world: World, program: int, customer: int, answers: list[int], now: datetime = NOW
) -> AttemptResult:
    with unit_of_work(world.engine) as s:
        return attempt_quiz(
            s, program_id=program, customer_id=customer, quiz_code="q1", answers=answers, now=now
        )


def _balance_and_attempts(world: World, program: int, customer: int) -> tuple[int, int]:
    with unit_of_work(world.engine, write=False) as s:
        account = get_account(s, program_id=program, customer_id=customer)
        assert verify_account(s, account_id=account.id)["ok"]
        attempts = s.scalar(
            select(func.count(EngagementQuizAttempt.id)).where(
                EngagementQuizAttempt.customer_id == customer
            )
        )
        return account.balance, int(attempts or 0)


def test_pass_grants_bonus_once_per_period(world: World) -> None:
    program = _quiz(world)
    customer = world.customer()
    result = _attempt(world, program, customer, [0, 1, 0])  # 2 of 3 right: the pass mark
    assert (result.correct, result.passed, result.points) == (2, True, 50)
    with pytest.raises(QuizAlreadyAttempted):
        _attempt(world, program, customer, [0, 1, 1])
    assert _balance_and_attempts(world, program, customer) == (50, 1)
    # Next month is a new period: the quiz may be taken again.
    again = _attempt(world, program, customer, [0, 1, 1], now=NOW.replace(month=7))
    assert (again.correct, again.points, again.period_key) == (3, 50, "2025-07")
    assert _balance_and_attempts(world, program, customer) == (100, 2)


def test_failed_attempt_is_stored_and_uses_the_period(world: World) -> None:
    program = _quiz(world)
    customer = world.customer()
    result = _attempt(world, program, customer, [1, 0, 0])
    assert (result.correct, result.passed, result.points) == (0, False, 0)
    with pytest.raises(QuizAlreadyAttempted):
        _attempt(world, program, customer, [0, 1, 1])
    with unit_of_work(world.engine, write=False) as s:
        stored = s.scalars(
            select(EngagementQuizAttempt).where(EngagementQuizAttempt.customer_id == customer)
        ).one()
        assert stored.answers == {"given": [1, 0, 0]}
        assert not stored.passed


def test_wrong_number_of_answers_is_refused(world: World) -> None:
    program = _quiz(world)
    customer = world.customer()
    with pytest.raises(InvalidInput):
        _attempt(world, program, customer, [0, 1])
    # The refusal did not use up the attempt.
    assert _attempt(world, program, customer, [0, 1, 1]).points == 50


def test_concurrent_posts_cannot_farm_points(world: World) -> None:
    program = _quiz(world)
    customer = world.customer()
    outcomes: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def post() -> None:
        barrier.wait()
        try:
            result = _attempt(world, program, customer, [0, 1, 1])
            outcome = f"passed:{result.points}"
        except RecompraError as exc:
            outcome = exc.code
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=post) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("passed:50") == 1, outcomes
    assert set(outcomes) - {"passed:50"} <= {"quiz_already_attempted", "conflict"}
    assert _balance_and_attempts(world, program, customer) == (50, 1)


def test_malformed_quiz_is_refused(world: World) -> None:
    _brand, program = world.program()
    bad = [Question(text="?", options=("só uma",), answer=0)]
    with pytest.raises(InvalidInput), unit_of_work(world.engine) as s:
        define_quiz(
            s, program_id=program, code="x", title="X", questions=bad, pass_mark=1, reward_points=1
        )
    with pytest.raises(InvalidInput), unit_of_work(world.engine) as s:
        define_quiz(
            s,
            program_id=program,
            code="x",
            title="X",
            questions=QUESTIONS,
            pass_mark=4,
            reward_points=1,
        )


def test_a_quiz_can_reward_a_coupon_issued_once_per_pass(world: World) -> None:
    program = _quiz(world, reward_points=0, reward_coupon="10% na próxima compra")
    passing, failing = world.customer(), world.customer()
    passed = _attempt(world, program, passing, [0, 1, 0])
    failed = _attempt(world, program, failing, [1, 0, 0])
    assert passed.passed
    assert passed.coupon_code is not None
    assert passed.points == 0
    assert not failed.passed
    assert failed.coupon_code is None
    with pytest.raises(QuizAlreadyAttempted):
        _attempt(world, program, passing, [0, 1, 1])
    with unit_of_work(world.engine, write=False) as s:
        coupons = s.scalars(
            select(EngagementQuizAttempt.coupon_code).where(
                EngagementQuizAttempt.customer_id.in_((passing, failing))
            )
        ).all()
    assert sorted(coupons, key=str) == sorted([passed.coupon_code, None], key=str)


def test_a_coupon_description_is_bounded(world: World) -> None:
    with pytest.raises(InvalidInput):
        _quiz(world, reward_coupon="x" * 121)
