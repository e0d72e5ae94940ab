"""PostgreSQL's server-side earn and redemption (migration 0030, ``ledger/server_side``):
the same writes and results as the Python path, and the round trips they save."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, text

from dbtest import create_test_engine
from recompra.db import unit_of_work
from recompra.errors import RecompraError
from recompra.loyalty import (
    adjust,
    create_reward,
    define_tier,
    earn_for_order,
    earn_order,
    redeem,
    redeem_reward,
    verify_account,
)
from recompra.loyalty.ledger.server_side import (
    EARN_FUNCTION,
    EARN_ORDER_FUNCTION,
    REDEEM_FUNCTION,
    python_path,
)

from .conftest import T0, World
from .test_hot_path import _driver_round_trips, _statements, round_trips

pytestmark = pytest.mark.postgres
NOW = T0 + timedelta(days=1)
#: The ledger's tables, and the columns of each that hold another table's generated id.
TABLES = {
    "loyalty_accounts": {},
    "loyalty_rewards": {},
    "loyalty_movements": {"account_id": "loyalty_accounts", "redemption_id": "loyalty_redemptions"},
    "loyalty_events": {"account_id": "loyalty_accounts", "movement_id": "loyalty_movements"},
    "loyalty_lots": {"account_id": "loyalty_accounts", "movement_id": "loyalty_movements"},
    "loyalty_allocations": {
        "movement_id": "loyalty_movements",
        "lot_id": "loyalty_lots",
        "debt_id": "loyalty_debts",
    },
    "loyalty_redemptions": {
        "account_id": "loyalty_accounts",
        "reward_id": "loyalty_rewards",
        "movement_id": "loyalty_movements",
        "cancel_movement_id": "loyalty_movements",
    },
    "loyalty_idempotency_keys": {},
    "loyalty_debts": {"account_id": "loyalty_accounts", "movement_id": "loyalty_movements"},
}
#: The tables without an ``id``, and the order their rows are compared in (their key).
ORDER = {"loyalty_idempotency_keys": "program_id, scope, key"}
#: Columns set from the wall clock when the world is built (not by the writes compared).
WALL_CLOCK = {("loyalty_accounts", "created_at"), ("loyalty_rewards", "created_at")}
#: Ids inside the events' payloads and the keys' stored results.
JSON_IDS = {
    "account_id": "loyalty_accounts",
    "movement_id": "loyalty_movements",
    "lot_id": "loyalty_lots",
    "redemption_id": "loyalty_redemptions",
    "reward_id": "loyalty_rewards",
}


@pytest.fixture(scope="module")
def pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A migrated PostgreSQL database for this module."""
    yield from create_test_engine("postgres", tmp_path_factory.mktemp("server-side"))


class _Ledger:
    """The same world in one database: a program, rewards, customers and their orders."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        world = World(engine)
        self.brand, self.program = world.program(
            rules=[
                {"type": "base", "points_per_unit": 1},
                {"type": "first_order_bonus", "points": 5},
            ],
            return_window_days=30,
        )
        self.customers = [world.customer() for _ in range(5)]
        with unit_of_work(engine) as s:
            create_reward(s, program_id=self.program, code="coffee", name="Coffee", cost_points=30)
            create_reward(
                s, program_id=self.program, code="seat", name="Seat", cost_points=20, stock=1
            )
            # Customers 0-2 hold 60 points; 3 has no account until an earn opens it; 4
            # never earns (a redemption finds no account).
            for customer in self.customers[:3]:
                adjust(
                    s,
                    program_id=self.program,
                    customer_id=customer,
                    points=60,
                    request_key=f"fund-{customer}",
                    reason="test",
                    now=T0,
                )
        # Past their return window (active at once), inside it (pending), cancelled.
        self.orders = [
            world.order(self.brand, customer, amount=amount, at=at, status=status)
            for n in range(12)
            for customer, amount, at, status in [
                (
                    self.customers[n % 4],
                    1_000 + 700 * n,
                    T0 - timedelta(days=60) if n % 3 else T0,
                    "canceled" if n == 7 else "approved",
                )
            ]
        ]


Op = tuple[str, dict[str, Any]]


def _sequence(seed: int) -> list[Op]:
    """Earns, replays, redemptions (some refused), a key reused by another customer and
    concurrent duplicates, in a random order fixed by ``seed``."""
    rng = random.Random(seed)
    ops: list[Op] = []
    earned: list[int] = []
    keys: list[tuple[int, str, str]] = []
    orders = list(range(12))
    for n in range(60):
        roll = rng.random()
        if orders and roll < 0.3:
            index = orders.pop(rng.randrange(len(orders)))
            earned.append(index)
            ops.append(("earn", {"order": index}))
        elif earned and roll < 0.4:
            ops.append(("earn", {"order": rng.choice(earned)}))
        elif orders and roll < 0.45:
            index = orders.pop(rng.randrange(len(orders)))
            earned.append(index)
            ops.append(("earn_twice", {"order": index}))
        elif keys and roll < 0.55:
            customer, reward, key = rng.choice(keys)
            if rng.random() < 0.2:
                customer = (customer + 1) % 5  # the key was another customer's
            ops.append(("redeem", {"customer": customer, "reward": reward, "key": key}))
        elif roll < 0.6:
            key = f"twice-{n}"
            keys.append((0, "coffee", key))
            ops.append(("redeem_twice", {"customer": 0, "reward": "coffee", "key": key}))
        else:
            customer = rng.randrange(5)
            reward = rng.choice(["coffee", "coffee", "seat", "ghost"])
            keys.append((customer, reward, f"k{n}"))
            ops.append(("redeem", {"customer": customer, "reward": reward, "key": f"k{n}"}))
    return ops


def _earn(ledger: _Ledger, order: int, *, mode: str) -> Any:
    order_id = ledger.orders[order]
    if mode == "autocommit":
        return earn_order(ledger.engine, program_id=ledger.program, order_id=order_id, now=NOW)
    with unit_of_work(ledger.engine) as s:
        return earn_for_order(s, program_id=ledger.program, order_id=order_id, now=NOW)


def _redeem(ledger: _Ledger, customer: int, reward: str, key: str, *, mode: str) -> Any:
    args: dict[str, Any] = {
        "program_id": ledger.program,
        "customer_id": ledger.customers[customer],
        "reward_code": reward,
        "request_key": key,
        "now": NOW,
    }
    if mode == "autocommit":
        return redeem_reward(ledger.engine, **args)
    with unit_of_work(ledger.engine) as s:
        return redeem(s, **args)


def _outcome(call: Callable[[], Any]) -> dict[str, Any]:
    """The result as a dict, or the error's type and message."""
    try:
        return asdict(call())
    except RecompraError as exc:
        return {"error": type(exc).__name__, "message": str(exc)}


def _twice(call: Callable[[], Any]) -> list[dict[str, Any]]:
    """Two threads make the same call at once; both outcomes, in a fixed order."""
    outcomes: list[dict[str, Any]] = []
    barrier = threading.Barrier(2)

    def attempt() -> None:
        barrier.wait()
        outcomes.append(_outcome(call))

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(outcomes, key=repr)


def _run(ledger: _Ledger, ops: list[Op], *, modes: list[str]) -> list[Any]:
    """Every op of ``ops`` against ``ledger``; op ``n`` calls in ``modes[n % len(modes)]``."""
    outcomes: list[Any] = []
    for n, (kind, args) in enumerate(ops):
        mode = modes[n % len(modes)]
        if kind.startswith("earn"):
            call = lambda a=args, m=mode: _earn(ledger, a["order"], mode=m)  # noqa: E731
        else:
            call = lambda a=args, m=mode: _redeem(  # noqa: E731
                ledger, a["customer"], a["reward"], a["key"], mode=m
            )
        outcomes.append(_twice(call) if kind.endswith("_twice") else _outcome(call))
    return outcomes


def _tables(engine: Engine) -> tuple[dict[str, list[dict[str, Any]]], dict[str, Any]]:
    """Every ledger table's rows (by id), their ids replaced by their rank in their table
    and coupon codes by their redemption's rank; and the replacement of ids and codes."""
    with engine.connect() as conn:
        raw = {
            table: [
                dict(row._mapping)
                for row in conn.execute(
                    text(f"SELECT * FROM {table} ORDER BY {ORDER.get(table, 'id')}")
                )
            ]
            for table in TABLES
        }
    ranks = {
        table: {row["id"]: n for n, row in enumerate(rows)}
        for table, rows in raw.items()
        if table not in ORDER
    }
    coupons = {row["coupon_code"]: n for n, row in enumerate(raw["loyalty_redemptions"])}

    def plain(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                key: (
                    ranks[JSON_IDS[key]].get(item)
                    if key in JSON_IDS and item is not None
                    else coupons.get(item)
                    if key == "coupon_code"
                    else item
                )
                for key, item in value.items()
            }
        return value

    rows = {
        table: [
            {
                column: (
                    ranks[TABLES[table][column]].get(value)
                    if column in TABLES[table] and value is not None
                    else coupons.get(value)
                    if column == "coupon_code"
                    else plain(value)
                )
                for column, value in row.items()
                if column != "id" and (table, column) not in WALL_CLOCK
            }
            for row in raw[table]
        ]
        for table in TABLES
    }
    return rows, plain


def _verified(engine: Engine) -> list[bool]:
    with unit_of_work(engine, write=False) as s:
        ids = s.scalars(text("SELECT id FROM loyalty_accounts ORDER BY id")).all()
        return [bool(verify_account(s, account_id=i)["ok"]) for i in ids]


def test_the_functions_write_and_answer_exactly_what_the_python_path_does(
    two_databases: tuple[Engine, Engine],
) -> None:
    functions, python = (_Ledger(engine) for engine in two_databases)
    ops = _sequence(seed=20261205)
    with _statements(functions.engine) as by_function_sent:
        by_function = _run(functions, ops, modes=["autocommit", "unit_of_work"])
    with python_path(), _statements(python.engine) as by_python_sent:
        by_python = _run(python, ops, modes=["unit_of_work"])
    # Customer 3's first earn opened their account in the function (migration 0030); the
    # Python path still opens one for an order that earns nothing (it raises, undone).
    openings = [
        len([s for s in sent if "INSERT INTO loyalty_accounts" in s])
        for sent in (by_function_sent, by_python_sent)
    ]
    assert openings[0] < openings[1], openings
    rows_f, plain_f = _tables(functions.engine)
    rows_p, plain_p = _tables(python.engine)

    def normalised(outcomes: list[Any], plain: Callable[[Any], Any]) -> list[Any]:
        return [
            [plain(o) for o in outcome] if isinstance(outcome, list) else plain(outcome)
            for outcome in outcomes
        ]

    assert normalised(by_function, plain_f) == normalised(by_python, plain_p)
    for table in TABLES:
        assert rows_f[table] == rows_p[table], table
    # The sequence reached every branch it is meant to test.
    flat = [
        o for outcome in by_python for o in (outcome if isinstance(outcome, list) else [outcome])
    ]
    errors = {o.get("error") for o in flat}
    assert errors >= {
        "InsufficientBalance",
        "IdempotencyKeyReused",
        "NotFound",
        "Conflict",
        "RewardUnavailable",
    }
    assert any(o.get("duplicate") for o in flat)
    assert any(o.get("state") == "pending" for o in flat)
    assert len(rows_p["loyalty_redemptions"]) > 5
    assert len(rows_p["loyalty_lots"]) > 8
    assert all(_verified(functions.engine))
    assert all(_verified(python.engine))


def test_a_common_earn_and_redemption_are_one_function_call_each(pg: Engine) -> None:
    world = World(pg)
    brand, program = world.program()
    customer = world.customer()
    first, second = world.order(brand, customer), world.order(brand, customer)
    earn_order(pg, program_id=program, order_id=first, now=NOW)  # opens the account
    with unit_of_work(pg) as s:
        create_reward(s, program_id=program, code="mug", name="Mug", cost_points=10)
    with _driver_round_trips(pg) as earned, _statements(pg) as earn_statements:
        result = earn_order(pg, program_id=program, order_id=second, now=NOW)
    with _driver_round_trips(pg) as redeemed, _statements(pg) as redeem_statements:
        redemption = redeem_reward(
            pg,
            program_id=program,
            customer_id=customer,
            reward_code="mug",
            request_key="r1",
            now=NOW,
        )
    # Autocommit, no BEGIN/COMMIT: the earn's function alone (migration 0032: it reads the
    # order and computes the points), the redemption's function alone.
    assert (round_trips(earned), round_trips(redeemed)) == (1, 1), (earned, redeemed)
    assert len(earn_statements) == 1
    assert EARN_ORDER_FUNCTION in earn_statements[0]
    assert len(redeem_statements) == 1
    assert REDEEM_FUNCTION in redeem_statements[0]
    # 1 point per unit of the default 100.00 order (conftest's BASE_RULES).
    assert (result.points, result.state, result.duplicate) == (100, "active", False)
    assert (redemption.points, redemption.status) == (10, "issued")


def test_a_program_with_tiers_earns_through_the_python_path(pg: Engine) -> None:
    world = World(pg)
    brand, program = world.program()
    customer = world.customer()
    with unit_of_work(pg) as s:
        define_tier(
            s, program_id=program, code="gold", name="Gold", rank=1, metric="spend", threshold=50
        )
    order = world.order(brand, customer)
    with _statements(pg) as seen:
        result = earn_order(pg, program_id=program, order_id=order, now=NOW)
    # The order's function declines (it changed nothing); the ledger's is never called.
    assert [s for s in seen if EARN_FUNCTION in s] == [seen[0]]
    assert EARN_ORDER_FUNCTION in seen[0]
    assert (result.points, result.state) == (100, "active")


@pytest.mark.parametrize("mode", ["unit_of_work", "autocommit"])
def test_a_first_earn_opens_the_account_in_the_function(pg: Engine, mode: str) -> None:
    # The API's way in (a unit of work) and a transaction of its own: a customer with no
    # account yet is one function call, which opens the account (migration 0030); the
    # Python path's opening (its lookups and its insert) never runs, the head is never read
    # (migration 0032's function reads the order).
    world = World(pg)
    brand, program = world.program()
    customer = world.customer()
    first, second = world.order(brand, customer), world.order(brand, customer)
    with _statements(pg) as seen:
        opened = _earn_one(pg, program, first, mode=mode)
    assert len([s for s in seen if EARN_FUNCTION in s]) == 1, seen
    assert not [s for s in seen if "INSERT INTO loyalty_accounts" in s], seen
    assert [s for s in seen if EARN_ORDER_FUNCTION in s] == seen, seen
    with _statements(pg) as seen:
        again = _earn_one(pg, program, second, mode=mode)
    assert len([s for s in seen if EARN_FUNCTION in s]) == 1
    # 100 points for each 100.00 order (conftest's BASE_RULES), on one account.
    assert (opened.points, again.points, again.account_id) == (100, 100, opened.account_id)
    with pg.connect() as conn:
        account = conn.execute(
            text(
                "SELECT customer_id, company_account_id, balance, pending, debt, tier_id"
                " FROM loyalty_accounts WHERE id = :id"
            ),
            {"id": opened.account_id},
        ).one()
    assert tuple(account) == (customer, None, 200, 0, 0, None)


def _earn_one(engine: Engine, program: int, order: int, *, mode: str) -> Any:
    if mode == "autocommit":
        return earn_order(engine, program_id=program, order_id=order, now=NOW)
    with unit_of_work(engine) as session:
        return earn_for_order(session, program_id=program, order_id=order, now=NOW)
