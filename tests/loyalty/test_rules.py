"""Earning rules: strategies, priorities, rounding, versions and simulate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from recompra.db import unit_of_work
from recompra.loyalty import OrderLine, OrderSnapshot, earn_for_order, publish_rules, simulate
from recompra.loyalty.errors import InvalidRule
from recompra.loyalty.rules.calculation import EarnContext
from recompra.loyalty.rules.engine import calculate
from recompra.loyalty.rules.strategies import build_rules

from .conftest import T0, World

AT = datetime(2025, 3, 10, tzinfo=UTC)


def _order(*lines: OrderLine, previous: int = 1) -> OrderSnapshot:
    return OrderSnapshot(
        order_id=None, customer_id=1, purchased_at=AT, lines=lines, previous_orders=previous
    )


def _calc(rules: list[dict[str, Any]], order: OrderSnapshot, **ctx: Any) -> Any:
    return calculate(
        build_rules(rules), order=order, ctx=EarnContext(trigger="order", at=AT, **ctx)
    )


def test_rounding_is_down_once_per_order_not_per_line() -> None:
    # given three lines of BRL 0.50 at 1 point per BRL 1.00
    order = _order(*(OrderLine(line_number=n, amount_minor=50) for n in (1, 2, 3)))
    # then the exact 1.5 points are rounded down once: 1 point (per-line rounding gives 0)
    assert _calc([{"type": "base", "points_per_unit": 1}], order).total == 1


def test_multipliers_exclusions_minimum_bonus_and_tier() -> None:
    rules = [
        {"type": "base", "points_per_unit": "2", "unit_minor": 100},
        {"type": "category_multiplier", "categories": ["beleza"], "multiplier": 2},
        {"type": "product_multiplier", "products": ["SKU-3"], "multiplier": 3},
        {"type": "excluded_products", "products": ["GIFT"]},
        {"type": "tier_multiplier"},
        {"type": "first_order_bonus", "points": 100},
        {"type": "minimum_order", "min_minor": 1_000},
    ]
    order = _order(
        OrderLine(line_number=1, amount_minor=1_000, product_ref="A", category="casa"),
        OrderLine(line_number=2, amount_minor=1_000, product_ref="B", category="beleza"),
        OrderLine(line_number=3, amount_minor=1_000, product_ref="SKU-3", category="beleza"),
        OrderLine(line_number=4, amount_minor=5_000, product_ref="GIFT"),
        previous=0,
    )
    calc = _calc(rules, order, tier_code="gold", tier_multiplier_pct=150)
    # lines: 20 x1, 20 x2, 20 x3 (the largest multiplier wins), gift excluded = 120
    assert [lc.points for lc in calc.lines] == [20, 40, 60, 0]
    # x1.5 tier = 180, + 100 first-order bonus
    assert calc.total == 280
    text = "\n".join(calc.explain())
    assert "product excluded" in text
    assert "tier gold: x3/2" in text
    assert "first order bonus: +100" in text


def test_minimum_order_blocks_everything() -> None:
    rules = [
        {"type": "minimum_order", "min_minor": 5_000},
        {"type": "base", "points_per_unit": 1},
        {"type": "first_order_bonus", "points": 50},
    ]
    calc = _calc(rules, _order(OrderLine(line_number=1, amount_minor=4_999), previous=0))
    assert calc.total == 0
    assert "below minimum 5000" in calc.blocked_reason


def test_cap_per_month_counts_what_was_already_earned() -> None:
    rules = [
        {"type": "base", "points_per_unit": 1},
        {"type": "cap_per_period", "max_points": 300, "period": "month"},
    ]
    order = _order(OrderLine(line_number=1, amount_minor=20_000))
    calc = _calc(rules, order, earned_between=lambda start, end: 250)
    assert calc.subtotal() == 200
    assert calc.total == 50


@pytest.mark.parametrize(
    "rules",
    [
        [{"type": "nope"}],
        [{"type": "base"}],
        [{"type": "base", "points_per_unit": -1}],
        [{"type": "category_multiplier", "categories": [], "multiplier": 2}],
        [{"type": "cap_per_period", "max_points": 10, "period": "week"}],
    ],
)
def test_malformed_rules_are_refused(rules: list[dict[str, Any]]) -> None:
    with pytest.raises(InvalidRule):
        build_rules(rules)


def test_an_order_earns_under_the_rules_in_force_at_purchase(world: World) -> None:
    # given version 1 (1 pt/BRL) and version 2 (3 pt/BRL) from 2025-02-01
    brand, program = world.program()
    with unit_of_work(world.engine) as s:
        publish_rules(
            s,
            program_id=program,
            rules=[{"type": "base", "points_per_unit": 3}],
            effective_from=datetime(2025, 2, 1, tzinfo=UTC),
        )
    customer = world.customer()
    january = world.order(brand, customer, amount=1_000, at=datetime(2025, 1, 20, tzinfo=UTC))
    february = world.order(brand, customer, amount=1_000, at=datetime(2025, 2, 2, tzinfo=UTC))
    # when both are earned after the change
    now = datetime(2025, 2, 3, tzinfo=UTC)
    with unit_of_work(world.engine) as s:
        a = earn_for_order(s, program_id=program, order_id=february, now=now)
        b = earn_for_order(s, program_id=program, order_id=january, now=now)
    # then each earns under its own version
    assert (a.points, a.rule_version) == (30, 2)
    assert (b.points, b.rule_version) == (10, 1)


def test_simulate_explains_line_by_line_and_writes_nothing(world: World) -> None:
    brand, program = world.program(
        rules=[
            {"type": "base", "points_per_unit": 1},
            {"type": "category_multiplier", "categories": ["beleza"], "multiplier": 2},
            {"type": "first_order_bonus", "points": 10},
        ]
    )
    customer = world.customer()
    lipstick = world.product(brand, ref="LIP-1", category="beleza")
    order = world.order(brand, customer, lines=[(lipstick, 2_550), (None, 1_000)], at=T0)
    with unit_of_work(world.engine, write=False) as s:
        sim = simulate(s, program_id=program, order_id=order, now=T0)
    assert sim.points == 51 + 10 + 10
    assert sim.explanation == [
        "rules version 1",
        "line 1: amount 2550, eligible 2550, base 25.5 x 2 = 51; category_multiplier x2",
        "line 2: amount 1000, eligible 1000, base 10 x 1 = 10",
        "first order bonus: +10",
        "total: 71 points",
    ]
    with unit_of_work(world.engine, write=False) as s:
        again = simulate(s, program_id=program, order_id=order, now=T0 + timedelta(1))
    assert again.points == 71
