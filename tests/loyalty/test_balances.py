"""Points as of now come from the lots: an expired lot never counts, even before the
expiry job runs (the cached balance still holds it until then)."""

from __future__ import annotations

from datetime import timedelta

from recompra.db import unit_of_work
from recompra.loyalty import earn_for_order, find_account
from recompra.loyalty.balances import DatedPoints, points_as_of

from .conftest import T0, World


def test_expired_points_never_count_before_the_job_runs(world: World) -> None:
    brand, program = world.program(
        return_window_days=7, expiry_days=30, expiry_warning_days=30,
        effective_from=T0 - timedelta(days=100),
    )  # fmt: skip
    customer = world.customer()
    # (amount, purchased, earned at): released 7 days after purchase, valid 30 days.
    for amount, bought, earned in (
        (10_000, T0 - timedelta(days=7), T0 + timedelta(days=1)),  # expires T0+30
        (5_000, T0 + timedelta(days=18), T0 + timedelta(days=26)),  # expires T0+55
        (2_000, T0 + timedelta(days=29), T0 + timedelta(days=29)),  # pending to T0+36
    ):
        order = world.order(brand, customer, amount=amount, at=bought)
        with unit_of_work(world.engine) as s:
            earn_for_order(s, program_id=program, order_id=order, now=earned)
    now = T0 + timedelta(days=31)
    with unit_of_work(world.engine, write=False) as s:
        cached = find_account(s, program_id=program, customer_id=customer)
        view = points_as_of(s, program_id=program, customer_id=customer, now=now)
    assert cached is not None
    # The cache still counts the first lot: nothing has expired it yet.
    assert cached.balance == 100 + 50
    assert view.available == 50
    assert view.pending == 20
    assert view.pending_lots == [DatedPoints(20, T0 + timedelta(days=36))]
    # T0+55 is inside the 30-day warning window that starts at T0+31.
    assert view.expiring_lots == [DatedPoints(50, T0 + timedelta(days=55))]
    assert view.expiring_soon == 50
