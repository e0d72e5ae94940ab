"""The hot path's round trips (counted by the driver), its prepared statements' events,
the stock decrement under concurrent redemptions, and the expiry job's batches."""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from psycopg.pq import Trace
from sqlalchemy import Engine, event, func, select

from recompra.db import unit_of_work
from recompra.loyalty import (
    adjust,
    create_reward,
    earn_for_order,
    expire_in_batches,
    expire_lots,
    get_account,
    redeem,
)
from recompra.loyalty import expiry as expiry_module
from recompra.loyalty.errors import RewardUnavailable
from recompra.models import LoyaltyAllocation, LoyaltyLot, LoyaltyMovement, LoyaltyReward

from .conftest import T0, World


@contextmanager
def _statements(engine: Engine) -> Iterator[list[str]]:
    """The statements the engine's connections send meanwhile (seen by its listeners)."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(engine, "after_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "after_cursor_execute", record)


#: Round trips per write, BEGIN and COMMIT included, as the driver sends them. SQLite:
#: earn = BEGIN, head (program, order, rules), account lock, key and due lots, order lines,
#: balances, movement, event, lot, key, COMMIT; redeem = BEGIN, lock, reward with key and
#: due lots, redemption, balances, movement, event, allocations, the lot, the
#: redemption's movement, key, COMMIT. PostgreSQL chains the balances, movement and event
#: into one statement, and the allocations with their lots into another.
ROUND_TRIPS = {
    "sqlite": {"earn": 11, "redeem": 12},
    "postgresql": {"earn": 9, "redeem": 9},
}


@contextmanager
def _driver_round_trips(engine: Engine) -> Iterator[list[str]]:
    """What the driver sends on the connections checked out meanwhile: SQLite's own
    statement trace, or libpq's protocol trace (one ``ReadyForQuery`` per round trip) on
    PostgreSQL. Neither goes through SQLAlchemy or the project's statement wrapper."""
    sent: list[str] = []
    with tempfile.TemporaryFile("w+") as trace_file:

        def checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
            if engine.dialect.name == "sqlite":
                dbapi_connection.set_trace_callback(sent.append)
            else:
                dbapi_connection.pgconn.trace(trace_file.fileno())
                dbapi_connection.pgconn.set_trace_flags(Trace.SUPPRESS_TIMESTAMPS)

        def checkin(dbapi_connection: Any, _record: Any) -> None:
            if engine.dialect.name == "sqlite":
                dbapi_connection.set_trace_callback(None)
            else:
                dbapi_connection.pgconn.untrace()

        event.listen(engine, "checkout", checkout)
        event.listen(engine, "checkin", checkin)
        try:
            yield sent
        finally:
            event.remove(engine, "checkout", checkout)
            event.remove(engine, "checkin", checkin)
            trace_file.seek(0)
            sent.extend(line for line in trace_file if "\tReadyForQuery" in line)


def test_earn_and_redeem_send_the_round_trips_they_claim(world: World) -> None:
    brand, program = world.program()
    customer = world.customer()
    first, second = world.order(brand, customer), world.order(brand, customer)
    with unit_of_work(world.engine) as s:
        earn_for_order(s, program_id=program, order_id=first, now=T0 + timedelta(1))
        create_reward(s, program_id=program, code="mug", name="Mug", cost_points=10)
    with (
        _driver_round_trips(world.engine) as earned,
        _statements(world.engine) as seen,
        unit_of_work(world.engine) as s,
    ):
        earn_for_order(s, program_id=program, order_id=second, now=T0 + timedelta(1))
    with _driver_round_trips(world.engine) as redeemed, unit_of_work(world.engine) as s:
        redeem(
            s,
            program_id=program,
            customer_id=customer,
            reward_code="mug",
            request_key="r1",
            now=T0 + timedelta(1),
        )
    expected = ROUND_TRIPS[world.engine.dialect.name]
    assert len(earned) == expected["earn"], earned
    assert len(redeemed) == expected["redeem"], redeemed
    # The prepared statements still reach the engine's listeners (automation wake-ups).
    assert any(s.startswith("INSERT INTO loyalty_lots") for s in seen)


def test_concurrent_redemptions_never_take_more_than_the_stock(world: World) -> None:
    _brand, program = world.program()
    buyers = [world.customer() for _ in range(6)]
    with unit_of_work(world.engine) as s:
        create_reward(s, program_id=program, code="seat", name="Seat", cost_points=10, stock=2)
        for buyer in buyers:
            adjust(
                s,
                program_id=program,
                customer_id=buyer,
                points=50,
                request_key=f"fund-{buyer}",
                reason="test",
                now=T0,
            )
    outcomes: list[str] = []
    barrier = threading.Barrier(len(buyers))

    def attempt(buyer: int) -> None:
        barrier.wait()
        try:
            with unit_of_work(world.engine) as s:
                redeem(
                    s,
                    program_id=program,
                    customer_id=buyer,
                    reward_code="seat",
                    request_key=f"seat-{buyer}",
                    now=T0 + timedelta(1),
                )
            outcomes.append("issued")
        except RewardUnavailable:
            outcomes.append("sold out")

    threads = [threading.Thread(target=attempt, args=(b,)) for b in buyers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["issued"] * 2 + ["sold out"] * 4
    with unit_of_work(world.engine, write=False) as s:
        stock = s.scalar(select(LoyaltyReward.stock).where(LoyaltyReward.program_id == program))
        spent = [get_account(s, program_id=program, customer_id=b).balance for b in buyers]
    assert stock == 0
    assert sorted(spent) == [40, 40, 50, 50, 50, 50]


def _accounts_with_lots(world: World, program: int, points: list[int]) -> list[int]:
    """One customer per entry, each with lots of 10 and ``entry`` points (due at T0+10)."""
    accounts = []
    for n, extra in enumerate(points):
        customer = world.customer()
        with unit_of_work(world.engine) as s:
            for key, amount in (("a", 10), ("b", extra)):
                adjust(
                    s,
                    program_id=program,
                    customer_id=customer,
                    points=amount,
                    request_key=f"{key}{n}",
                    reason="t",
                    now=T0,
                )
            accounts.append(get_account(s, program_id=program, customer_id=customer).id)
    return accounts


@pytest.mark.parametrize("committed_per_batch", [False, True])
def test_expiry_in_small_batches_expires_exactly_the_programs_due_lots(
    world: World, state: Any, monkeypatch: pytest.MonkeyPatch, committed_per_batch: bool
) -> None:
    _brand, program = world.program(expiry_days=10)
    _other_brand, other = world.program(expiry_days=10)
    points = [5, 7, 11, 13, 17]
    mine = _accounts_with_lots(world, program, points)
    theirs = _accounts_with_lots(world, other, [19])
    monkeypatch.setattr(expiry_module, "EXPIRY_BATCH_ACCOUNTS", 2)
    now = T0 + timedelta(11)
    if committed_per_batch:
        report = expire_in_batches(world.engine, now=now, program_id=program)
    else:
        with unit_of_work(world.engine) as s:
            report = expire_lots(s, now=now, program_id=program)
    assert (report.accounts, report.lots, report.points) == (5, 10, 5 * 10 + sum(points))
    for account in mine:
        assert state(account)["balance"] == 0
    assert state(theirs[0])["balance"] == 10 + 19
    with unit_of_work(world.engine, write=False) as s:
        movements = s.scalar(
            select(func.count())
            .select_from(LoyaltyMovement)
            .where(LoyaltyMovement.batch_id == report.batch_id)
        )
        allocated = s.scalar(
            select(func.sum(LoyaltyAllocation.points))
            .join(LoyaltyMovement, LoyaltyMovement.id == LoyaltyAllocation.movement_id)
            .where(LoyaltyMovement.batch_id == report.batch_id)
        )
        expired = s.scalar(
            select(func.count())
            .select_from(LoyaltyLot)
            .where(LoyaltyLot.account_id.in_(mine), LoyaltyLot.state == "expired")
        )
    assert (movements, allocated, expired) == (5, 5 * 10 + sum(points), 10)
