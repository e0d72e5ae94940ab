"""PostgreSQL's server-side earn and redemption (migration 0030) where transactions meet:
two first earns of one customer open one account, a key stored at once for two accounts
(``RK409``), lots holding less than the cached balance (``RK402``). Each race is made
certain: the first transaction holds its writes uncommitted until the second is seen
waiting on them in ``pg_stat_activity``."""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, text

from dbtest import create_test_engine
from recompra.db import unit_of_work
from recompra.errors import Conflict, InsufficientBalance
from recompra.loyalty import (
    adjust,
    create_reward,
    earn_for_order,
    earn_order,
    redeem,
    redeem_reward,
    verify_account,
)
from recompra.loyalty.ledger.server_side import EARN_FUNCTION, REDEEM_FUNCTION, python_path

from .conftest import T0, World

pytestmark = pytest.mark.postgres
NOW = T0 + timedelta(days=1)


@pytest.fixture
def pg(tmp_path: Path) -> Iterator[Engine]:
    """A fresh migrated PostgreSQL database."""
    yield from create_test_engine("postgres", tmp_path)


@contextmanager
def _statements(engine: Engine) -> Iterator[list[str]]:
    """The statements sent meanwhile, those that failed too (``before_cursor_execute``)."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _while_held(engine: Engine, first: Callable[[Any], Any], second: Callable[[], Any]) -> Any:
    """Run ``first`` in a unit of work, then ``second`` in a thread; commit ``first``'s
    unit of work only once ``second``'s connection waits on a lock. ``second``'s outcome
    (its result or the error it raised)."""
    outcome: list[Any] = []

    def run_second() -> None:
        try:
            outcome.append(second())
        except Exception as exc:  # the outcome under test
            outcome.append(exc)

    with unit_of_work(engine) as session:
        first(session)
        context = contextvars.copy_context()  # python_path() reaches the thread too
        thread = threading.Thread(target=context.run, args=(run_second,))
        thread.start()
        _wait_for_a_lock_wait(engine)
    thread.join()
    return outcome[0]


def _wait_for_a_lock_wait(engine: Engine) -> None:
    """Return once a backend of this database waits on a lock (a synchronisation, not a
    timed assertion: the deadline only stops a broken test from hanging)."""
    deadline = time.monotonic() + 60
    # Autocommit: a transaction reads pg_stat_activity once and keeps that snapshot.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        while time.monotonic() < deadline:
            waiting = conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
            if waiting:
                return
            time.sleep(0.01)
    raise AssertionError("the second transaction never waited on the first")


def _count(engine: Engine, sql: str, **params: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(sql), params).scalar_one())


def test_two_first_earns_of_one_customer_at_once_open_one_account(pg: Engine) -> None:
    world = World(pg)
    brand, program = world.program()
    customer = world.customer()
    first, second = world.order(brand, customer), world.order(brand, customer)
    with _statements(pg) as seen:
        result = _while_held(
            pg,
            lambda s: earn_for_order(s, program_id=program, order_id=first, now=NOW),
            lambda: earn_order(pg, program_id=program, order_id=second, now=NOW),
        )
    # Both earns were the function's (the second waited on the first's new account row,
    # inserted nothing, then locked it); the Python path never opened an account.
    assert len([s for s in seen if EARN_FUNCTION in s]) == 2
    assert not [s for s in seen if "INSERT INTO loyalty_accounts" in s]
    assert result.points == 100, result
    accounts = _count(
        pg, "SELECT count(*) FROM loyalty_accounts WHERE customer_id = :c", c=customer
    )
    balance = _count(pg, "SELECT balance FROM loyalty_accounts WHERE customer_id = :c", c=customer)
    assert (accounts, balance) == (1, 200)  # 100 points for each 100.00 order
    with unit_of_work(pg, write=False) as s:
        assert verify_account(s, account_id=result.account_id)["ok"]


def _forced(path: str) -> AbstractContextManager[None]:
    """The Python path forced for ``path == "python"``, else the functions."""
    return python_path() if path == "python" else nullcontext()


def _funded(world: World, program: int, customers: list[int], points: int) -> None:
    with unit_of_work(world.engine) as s:
        for customer in customers:
            adjust(
                s,
                program_id=program,
                customer_id=customer,
                points=points,
                request_key=f"fund-{customer}",
                reason="test",
                now=T0,
            )


@pytest.mark.parametrize("path", ["function", "python"])
def test_one_key_redeemed_at_once_for_two_accounts_is_a_conflict(pg: Engine, path: str) -> None:
    # Each redemption locks its own account, so neither sees the other's key under its
    # lock: the second waits on the first's key in the unique index, finds it stored
    # when the first commits (RK409 in the function) and writes nothing.
    world = World(pg)
    _brand, program = world.program()
    ana, bia = world.customer(), world.customer()
    _funded(world, program, [ana, bia], 60)
    with unit_of_work(pg) as s:
        create_reward(s, program_id=program, code="mug", name="Mug", cost_points=10)
    args = {"program_id": program, "reward_code": "mug", "request_key": "same", "now": NOW}
    with _statements(pg) as seen, _forced(path):
        outcome = _while_held(
            pg,
            lambda s: redeem(s, customer_id=ana, **args),
            lambda: redeem_reward(pg, customer_id=bia, **args),
        )
    assert isinstance(outcome, Conflict), outcome
    if path == "function":
        # One call each, and no Python-path write after the function's error.
        assert len([s for s in seen if REDEEM_FUNCTION in s]) == 2
        assert not [s for s in seen if "INSERT INTO loyalty_redemptions" in s]
    balances = _count(
        pg,
        "SELECT sum(balance) FILTER (WHERE customer_id = :b) * 1000"
        " + sum(balance) FILTER (WHERE customer_id = :a) FROM loyalty_accounts",
        a=ana,
        b=bia,
    )
    assert balances == 60 * 1000 + 50  # Bia untouched, Ana spent 10
    assert _count(pg, "SELECT count(*) FROM loyalty_redemptions") == 1
    with unit_of_work(pg, write=False) as s:
        ids = s.scalars(text("SELECT id FROM loyalty_accounts")).all()
        assert all(verify_account(s, account_id=i)["ok"] for i in ids)


@pytest.mark.parametrize("path", ["function", "python"])
def test_lots_holding_less_than_the_balance_refuse_the_redemption(pg: Engine, path: str) -> None:
    # The cached balance says 110 but the lots hold 60 (a corruption made by hand): the
    # redemption of 100 takes the 60, finds 40 missing (RK402 in the function), raises
    # the Python path's error and undoes everything it wrote.
    world = World(pg)
    _brand, program = world.program()
    ana = world.customer()
    _funded(world, program, [ana], 60)
    with unit_of_work(pg) as s:
        create_reward(s, program_id=program, code="seat", name="Seat", cost_points=100)
    with pg.begin() as conn:
        conn.execute(
            text("UPDATE loyalty_accounts SET balance = balance + 50 WHERE customer_id = :c"),
            {"c": ana},
        )
    tables = ["loyalty_movements", "loyalty_events", "loyalty_allocations", "loyalty_redemptions"]
    before = [_count(pg, f"SELECT count(*) FROM {t}") for t in tables]
    with _statements(pg) as seen, _forced(path), pytest.raises(InsufficientBalance) as refused:
        redeem_reward(
            pg, program_id=program, customer_id=ana, reward_code="seat", request_key="r", now=NOW
        )
    assert str(refused.value) == "lots hold 60 of the 100 points needed"
    if path == "function":
        assert len([s for s in seen if REDEEM_FUNCTION in s]) == 1
        assert not [s for s in seen if "INSERT INTO loyalty_redemptions" in s]
    assert [_count(pg, f"SELECT count(*) FROM {t}") for t in tables] == before
    assert _count(pg, "SELECT sum(remaining) FROM loyalty_lots") == 60
    assert _count(pg, "SELECT balance FROM loyalty_accounts") == 110
    assert _count(pg, "SELECT count(*) FROM loyalty_idempotency_keys WHERE scope = 'redeem'") == 0


def test_a_coupon_already_taken_writes_nothing_and_is_drawn_again(
    pg: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The second redemption first draws the first one's coupon: the function's insert
    # of the redemption does nothing (ON CONFLICT on the coupon), so neither may any
    # other write of its statement (migration 0037); the caller draws another coupon.
    world = World(pg)
    _brand, program = world.program()
    ana = world.customer()
    _funded(world, program, [ana], 100)
    with unit_of_work(pg) as s:
        create_reward(s, program_id=program, code="mug", name="Mug", cost_points=30)
    first = redeem_reward(
        pg, program_id=program, customer_id=ana, reward_code="mug", request_key="r1", now=NOW
    )
    draws = iter([first.coupon_code, "FRESH-0001"])
    monkeypatch.setattr("recompra.loyalty.rewards.redemption.new_coupon_code", lambda: next(draws))
    with _statements(pg) as seen:
        second = redeem_reward(
            pg, program_id=program, customer_id=ana, reward_code="mug", request_key="r2", now=NOW
        )
    assert len([s for s in seen if REDEEM_FUNCTION in s]) == 2
    assert second.coupon_code == "FRESH-0001"
    assert second.redemption_id != first.redemption_id
    assert _count(pg, "SELECT count(*) FROM loyalty_redemptions") == 2
    assert _count(pg, "SELECT count(*) FROM loyalty_movements WHERE kind = 'spend'") == 2
    assert _count(pg, "SELECT count(*) FROM loyalty_events WHERE type = 'points_spent'") == 2
    assert _count(pg, "SELECT count(*) FROM loyalty_idempotency_keys WHERE scope = 'redeem'") == 2
    assert _count(pg, "SELECT sum(points) FROM loyalty_allocations") == 60
    assert _count(pg, "SELECT balance FROM loyalty_accounts") == 100 - 2 * 30
    assert _count(pg, "SELECT sum(remaining) FROM loyalty_lots") == 100 - 2 * 30
    # Each redemption names its own spend movement, which names it back.
    assert (
        _count(
            pg,
            "SELECT count(*) FROM loyalty_redemptions r JOIN loyalty_movements m"
            " ON m.id = r.movement_id AND m.redemption_id = r.id AND m.kind = 'spend'"
            " AND m.points = -r.points",
        )
        == 2
    )
    with unit_of_work(pg) as s:
        ids = s.scalars(text("SELECT id FROM loyalty_accounts")).all()
        assert all(verify_account(s, account_id=i)["ok"] for i in ids)
