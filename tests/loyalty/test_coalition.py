"""Coalition programs: earn in several brands at per-brand rates, redeem in any, and the
cost of a redemption falls on the brands whose lots it consumed."""

from __future__ import annotations

from datetime import timedelta

import pytest

from recompra.db import unit_of_work
from recompra.errors import Conflict, InvalidInput
from recompra.loyalty import create_program, create_reward, earn_for_order, redeem
from recompra.loyalty.coalition import brand_reports, cost_allocation, join_coalition
from recompra.loyalty.programs import active_program_for_brand
from recompra.loyalty.valuation import points_value_minor

from .b2b_world import brand_customer
from .conftest import T0, World


def test_earn_in_a_redeem_in_b_and_a_pays_for_its_points(world: World, state: object) -> None:
    brand_a, program = world.program()
    brand_b, brand_c = world.brand(), world.brand()
    with unit_of_work(world.engine) as s:
        join_coalition(s, program_id=program, brand_id=brand_b, earn_rate_pct=50)
        create_reward(s, program_id=program, code="vale", name="Vale", cost_points=120)
    customer = brand_customer(world, brand_a)
    in_a = world.order(brand_a, customer, amount=10_000, at=T0)
    in_b = world.order(brand_b, customer, amount=10_000, at=T0 + timedelta(days=1))
    in_c = world.order(brand_c, customer, amount=10_000, at=T0 + timedelta(days=1))
    now = T0 + timedelta(days=2)
    with unit_of_work(world.engine) as s:
        from_a = earn_for_order(s, program_id=program, order_id=in_a, now=now)
        from_b = earn_for_order(s, program_id=program, order_id=in_b, now=now)
    with pytest.raises(InvalidInput), unit_of_work(world.engine) as s:
        earn_for_order(s, program_id=program, order_id=in_c, now=now)
    # R$ 100 at A's full rate, R$ 100 at B's 50%: both into the one account.
    assert (from_a.points, from_b.points) == (100, 50)
    assert from_a.account_id == from_b.account_id
    with unit_of_work(world.engine) as s:
        redeem(
            s,
            program_id=program,
            customer_id=customer,
            reward_code="vale",
            request_key="r-1",
            now=now,
            brand_id=brand_b,
        )
        allocation = cost_allocation(s, program_id=program)
        reports = {
            r.brand_id: r
            for r in brand_reports(s, program_id=program, point_value_minor_per_1000=5_000)
        }
    # Oldest points first: A's lot (earned a day earlier) gives all its 100, B's lot 20.
    assert allocation == {(brand_b, brand_a): 100, (brand_b, brand_b): 20}
    assert reports[brand_a].points_paid_for == 100
    assert reports[brand_a].cost_minor == 100 * 5_000 // 1_000
    assert reports[brand_b].points_redeemed_here == 120
    assert reports[brand_b].points_earned == 50
    # A pays R$ 5.00 (100 points at 5 centavos) for points B honoured: A owes, B is owed the same.
    assert reports[brand_a].net_settlement_minor == points_value_minor(100, 5_000)
    assert reports[brand_b].net_settlement_minor == -points_value_minor(100, 5_000)
    state(from_a.account_id)  # type: ignore[operator]


def test_a_member_brand_runs_no_program_of_its_own(world: World) -> None:
    brand_a, program = world.program()
    brand_b = world.brand()
    other_brand, other_program = world.program()
    with unit_of_work(world.engine) as s:
        join_coalition(s, program_id=program, brand_id=brand_b)
        assert active_program_for_brand(s, brand_id=brand_b).id == program  # type: ignore[union-attr]
    with pytest.raises(Conflict), unit_of_work(world.engine) as s:
        create_program(s, brand_id=brand_b, name="Próprio")
    with pytest.raises(Conflict), unit_of_work(world.engine) as s:
        join_coalition(s, program_id=program, brand_id=other_brand)
    with pytest.raises(Conflict), unit_of_work(world.engine) as s:
        join_coalition(s, program_id=other_program, brand_id=brand_b)
    with pytest.raises(Conflict), unit_of_work(world.engine) as s:
        join_coalition(s, program_id=program, brand_id=brand_a)
