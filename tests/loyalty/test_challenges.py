"""Challenges, streaks and badges: progress, one completion per period, ledger-backed rewards."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from recompra.db import unit_of_work
from recompra.errors import InvalidInput
from recompra.loyalty import get_account
from recompra.loyalty.challenges.definitions import define_badge, define_challenge
from recompra.loyalty.challenges.evaluate import (
    badge_history,
    customer_progress,
    evaluate_customer,
    evaluate_program,
)
from recompra.loyalty.challenges.periods import period_bounds, period_key
from recompra.models import Event, LoyaltyEvent, Review
from recompra.models.engagement import EngagementCompletion

from .conftest import World


def _at(year: int, month: int, day: int = 10) -> datetime:
    return datetime(year, month, day, 12, tzinfo=UTC)


def _challenge(world: World, program: int, **kwargs: object) -> None:
    with unit_of_work(world.engine) as s:
        if kwargs.get("badge_code"):
            define_badge(s, program_id=program, code=str(kwargs["badge_code"]), name="Fiel")
        define_challenge(s, program_id=program, code="c", name="Desafio", **kwargs)  # type: ignore[arg-type]


def _evaluate(world: World, program: int, customer: int, now: datetime) -> list[str]:
    with unit_of_work(world.engine) as s:
        done = evaluate_customer(s, program_id=program, customer_id=customer, now=now)
        return [c.period_key for c in done]


def _progress(world: World, program: int, customer: int, now: datetime) -> tuple[int, int]:
    with unit_of_work(world.engine, write=False) as s:
        (p,) = customer_progress(s, program_id=program, customer_id=customer, now=now)
        return p.current, p.target


def _balance(world: World, program: int, customer: int) -> int:
    with unit_of_work(world.engine, write=False) as s:
        return get_account(s, program_id=program, customer_id=customer).balance


def test_period_keys_and_bounds() -> None:
    at = _at(2026, 11, 30)
    assert period_key("month", at) == "2026-11"
    assert period_key("quarter", at) == "2026-Q4"
    assert period_key("year", at) == "2026"
    assert period_key("once", at) == "once"
    assert period_bounds("quarter", at) == (
        _at(2026, 10, 1).replace(hour=0),
        _at(2027, 1, 1).replace(hour=0),
    )
    assert period_bounds("month", _at(2026, 12)) == (
        datetime(2026, 12, 1, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
    )


def test_streak_of_three_months_completes_once_with_badge(
    world: World, state: Callable[[int], dict[str, int | bool]]
) -> None:
    brand, program = world.program()
    customer = world.customer()
    _challenge(
        world,
        program,
        kind="streak",
        metric="orders",
        target=3,
        reward_points=300,
        badge_code="fiel",
    )
    world.order(brand, customer, at=_at(2025, 10))
    world.order(brand, customer, at=_at(2025, 11))
    # Two months so far, this month still open: "2 of 3", and nothing completed.
    assert _progress(world, program, customer, _at(2025, 12, 1)) == (2, 3)
    assert _evaluate(world, program, customer, _at(2025, 12, 1)) == []
    world.order(brand, customer, at=_at(2025, 12, 3))
    assert _progress(world, program, customer, _at(2025, 12, 5)) == (3, 3)
    assert _evaluate(world, program, customer, _at(2025, 12, 5)) == ["once"]
    # Re-running (a retry, the job) grants nothing more.
    assert _evaluate(world, program, customer, _at(2025, 12, 6)) == []
    with unit_of_work(world.engine) as s:
        assert evaluate_program(s, program_id=program, now=_at(2025, 12, 7)) == []
        history = badge_history(s, program_id=program, customer_id=customer)
        account = get_account(s, program_id=program, customer_id=customer)
        types = s.scalars(
            select(LoyaltyEvent.type)
            .where(LoyaltyEvent.account_id == account.id)
            .order_by(LoyaltyEvent.id)
        ).all()
    assert [(b.code, b.challenge_code) for b in history] == [("fiel", "c")]
    assert account.balance == 300
    assert "challenge_almost_complete" in types
    assert types.count("challenge_completed") == 1
    assert types.count("badge_earned") == 1
    state(account.id)


@pytest.mark.parametrize(
    ("months", "now", "expected"),
    [
        ([(2025, 8), (2025, 10), (2025, 11)], (2025, 12), 2),  # a gap in September
        ([(2025, 8), (2025, 9)], (2025, 11), 0),  # October had no order: broken
        ([(2025, 11), (2025, 12), (2026, 1)], (2026, 1), 3),  # across the new year
    ],
)
def test_streak_counts_consecutive_months(
    world: World, months: list[tuple[int, int]], now: tuple[int, int], expected: int
) -> None:
    brand, program = world.program()
    customer = world.customer()
    _challenge(world, program, kind="streak", metric="orders", target=3)
    for year, month in months:
        world.order(brand, customer, at=_at(year, month, 2))
    assert _progress(world, program, customer, _at(*now, 20)) == (expected, 3)


def test_cancelled_orders_do_not_count(world: World) -> None:
    brand, program = world.program()
    customer = world.customer()
    _challenge(world, program, metric="orders", target=2)
    world.order(brand, customer, at=_at(2025, 3))
    world.order(brand, customer, at=_at(2025, 3, 11), status="canceled")
    assert _progress(world, program, customer, _at(2025, 4)) == (1, 2)


def test_monthly_challenge_completes_once_per_month(
    world: World, state: Callable[[int], dict[str, int | bool]]
) -> None:
    brand, program = world.program()
    customer = world.customer()
    _challenge(world, program, metric="orders", target=1, period="month", reward_points=20)
    world.order(brand, customer, at=_at(2025, 3, 2))
    world.order(brand, customer, at=_at(2025, 3, 5))
    assert _evaluate(world, program, customer, _at(2025, 3, 20)) == ["2025-03"]
    assert _evaluate(world, program, customer, _at(2025, 3, 25)) == []
    # April has no order yet: nothing; then one order completes April's period.
    assert _evaluate(world, program, customer, _at(2025, 4, 2)) == []
    world.order(brand, customer, at=_at(2025, 4, 3))
    assert _evaluate(world, program, customer, _at(2025, 4, 4)) == ["2025-04"]
    assert _balance(world, program, customer) == 40
    with unit_of_work(world.engine, write=False) as s:
        completions = s.scalar(
            select(func.count(EngagementCompletion.id)).where(
                EngagementCompletion.customer_id == customer
            )
        )
    assert completions == 2


def test_category_review_and_event_metrics(world: World) -> None:
    brand, program = world.program()
    customer = world.customer()
    shoe = world.product(brand, ref="s1", category="calcados")
    other = world.product(brand, ref="o1", category="livros")
    with unit_of_work(world.engine) as s:
        define_challenge(
            s,
            program_id=program,
            code="cat",
            name="Sapatos",
            metric="category_orders",
            subject="calcados",
            target=2,
        )
        define_challenge(
            s, program_id=program, code="rev", name="Resenhas", metric="reviews", target=1
        )
        define_challenge(
            s,
            program_id=program,
            code="evt",
            name="App",
            metric="event",
            subject="app_login",
            target=2,
        )
    world.order(brand, customer, lines=[(shoe, 5_000), (other, 1_000)], at=_at(2025, 2))
    world.order(brand, customer, lines=[(other, 1_000)], at=_at(2025, 2, 12))
    with unit_of_work(world.engine) as s:
        s.add(
            Review(
                brand_id=brand,
                source="t",
                external_id=uuid.uuid4().hex,
                customer_id=customer,
                score=5,
                created_at=_at(2025, 2, 13),
            )
        )
        for day in (14, 15):
            s.add(
                Event(
                    brand_id=brand,
                    customer_id=customer,
                    type="app_login",
                    occurred_at=_at(2025, 2, day),
                )
            )
        s.add(
            Event(brand_id=brand, customer_id=customer, type="other", occurred_at=_at(2025, 2, 16))
        )
    with unit_of_work(world.engine, write=False) as s:
        progress = {
            p.code: (p.current, p.target)
            for p in customer_progress(
                s, program_id=program, customer_id=customer, now=_at(2025, 3)
            )
        }
    assert progress == {"cat": (1, 2), "rev": (1, 1), "evt": (2, 2)}


def test_challenge_window_limits_what_counts(world: World) -> None:
    brand, program = world.program()
    customer = world.customer()
    _challenge(
        world,
        program,
        metric="orders",
        target=2,
        starts_at=_at(2025, 5, 1),
        ends_at=_at(2025, 7, 1),
    )
    world.order(brand, customer, at=_at(2025, 4))  # before the window
    world.order(brand, customer, at=_at(2025, 5))
    assert _progress(world, program, customer, _at(2025, 6)) == (1, 2)
    with unit_of_work(world.engine, write=False) as s:
        # Outside its window the challenge is not offered.
        assert (
            customer_progress(s, program_id=program, customer_id=customer, now=_at(2025, 8)) == []
        )


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"metric": "visits", "target": 1}, "metric"),
        ({"metric": "event", "target": 1}, "subject"),
        ({"metric": "orders", "target": 0}, "target"),
        ({"metric": "reviews", "target": 1, "kind": "streak"}, "metric"),
        ({"metric": "orders", "target": 1, "period": "week"}, "period"),
    ],
)
def test_malformed_challenges_are_refused(
    world: World, kwargs: dict[str, object], field: str
) -> None:
    _brand, program = world.program()
    with pytest.raises(InvalidInput) as caught, unit_of_work(world.engine) as s:
        define_challenge(s, program_id=program, code="x", name="X", **kwargs)  # type: ignore[arg-type]
    assert caught.value.field == field


def test_month_end_rolls_over(world: World) -> None:
    assert period_key("month", _at(2025, 12, 31) + timedelta(days=1)) == "2026-01"
