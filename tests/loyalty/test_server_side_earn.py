"""PostgreSQL's one-call earn of an order (migration 0032, ``recompra_loyalty_earn_order``):
for the common rule set it computes the points and the lot in the function, and it must
write and answer exactly what the Python path does; every other case it declines, having
changed nothing, and the earn takes the head read (and ``recompra_loyalty_earn``) or the
Python path. Each case runs in two fresh databases, the functions' and the Python path's,
compared row by row (``test_server_side._tables``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, text

from recompra.db import unit_of_work
from recompra.loyalty import adjust, archive_program, earn_for_order, earn_order
from recompra.loyalty.coalition import join_coalition
from recompra.loyalty.ledger.server_side import EARN_FUNCTION, EARN_ORDER_FUNCTION, python_path

from .conftest import T0, World
from .test_hot_path import _statements
from .test_server_side import NOW, TABLES, _outcome, _tables, _verified

pytestmark = pytest.mark.postgres
#: An order's id no order has.
MISSING = 10**9
#: How an earn ran in the functions' database: the order's function alone, its decline
#: then ``recompra_loyalty_earn`` (0030) with the points computed in Python, or the Python
#: path (after a decline of either function).
ONE, VIA_0030, PYTHON = "one", "via 0030", "python"


@dataclass
class Case:
    """A program and its rules; ``path``: how its brand's approved orders earn."""

    rules: list[dict[str, Any]]
    path: str
    settings: dict[str, Any] = field(default_factory=dict)
    effective_from: datetime = T0 - timedelta(days=365)
    archived: bool = False
    #: How the order earned 40 days later does, if not as ``path``.
    later: str | None = None


BASE = {"type": "base", "points_per_unit": 1}
CASES = {
    # Fractional points per unit of 10.00: 1.5 x 13,344 / 1,000 = 20.016 -> 20.
    "fraction": Case(
        [
            {"type": "base", "points_per_unit": 1.5, "unit_minor": 1000},
            {"type": "first_order_bonus", "points": 7},
        ],
        ONE,
        {"return_window_days": 30},
        # The second customer's lot pending at first is due by then: the ledger's function
        # declines (it settles no lots; ``ledger``) and the Python path runs.
        later=PYTHON,
    ),
    # 0.1 point per 1.00 rounds down (999 -> 0), two first-order bonuses add up.
    "floor": Case(
        [
            {"type": "base", "points_per_unit": 0.1},
            {"type": "first_order_bonus", "points": 3},
            {"type": "first_order_bonus", "points": 4, "priority": 70},
        ],
        ONE,
        {"expiry_days": 100},
    ),
    "delivery": Case(
        [{"type": "base", "points_per_unit": 2, "unit_minor": 50}],
        ONE,
        {"release_on": "delivery", "return_window_days": 5},
    ),
    # No version in force at the purchases: nothing earned, the key stored.
    "no rules yet": Case([BASE], ONE, effective_from=T0 + timedelta(days=365)),
    "no rules": Case([], ONE),
    # A number written as a string, a rule type the function does not compute.
    "string number": Case([{"type": "base", "points_per_unit": "2"}], VIA_0030),
    "multiplier": Case(
        [BASE, {"type": "category_multiplier", "categories": ["x"], "multiplier": 2}], VIA_0030
    ),
    "minimum": Case([{"type": "minimum_order", "min_minor": 5_000}, BASE], VIA_0030),
    "archived": Case([BASE], PYTHON, archived=True),
}


class _World:
    """One case's world: a program, a coalition member brand, two customers, orders with
    several lines (quantities, discounts, one line discounted below zero), without lines,
    cancelled, delivered, of the member brand and of a brand outside the program."""

    def __init__(self, engine: Engine, case: Case) -> None:
        world = World(engine)
        self.engine = engine
        self.brand, self.program = world.program(
            rules=case.rules, effective_from=case.effective_from, **case.settings
        )
        member, other = world.brand(), world.brand()
        with unit_of_work(engine) as s:
            join_coalition(s, program_id=self.program, brand_id=member, earn_rate_pct=50)
        first, second = world.customer(), world.customer()
        # Funded accounts: an account opened by an earn of no points keeps the wall clock's
        # ``updated_at`` (both paths; the functions' opening is test_server_side's).
        with unit_of_work(engine) as s:
            for customer in (first, second):
                adjust(
                    s,
                    program_id=self.program,
                    customer_id=customer,
                    points=10,
                    request_key=f"fund-{customer}",
                    reason="test",
                    now=T0,
                )
        old, recent = T0 - timedelta(days=60), T0 - timedelta(hours=2)

        def order(brand: int, customer: int, at: datetime, **kw: Any) -> int:
            return world.order(brand, customer, at=at, **kw)

        self.orders: list[tuple[int, str]] = []
        # The second customer's cancelled order is earlier: it is no previous order.
        self._add(order(self.brand, second, old - timedelta(days=1), status="canceled"), PYTHON)
        lines = order(self.brand, first, old, lines=[(None, 12_345), (None, 999), (None, 50)])
        _sql(
            engine,
            "UPDATE order_items SET quantity = 3, discount_minor = 200"
            " WHERE order_id = :o AND line_number = 2",
            "UPDATE order_items SET discount_minor = 80 WHERE order_id = :o AND line_number = 3",
            o=lines,
        )
        self._add(lines, case.path)
        self._add(order(self.brand, first, recent, amount=999), case.path)
        bare = order(self.brand, second, recent, delivered_at=T0 - timedelta(hours=1))
        _sql(
            engine,
            "DELETE FROM order_items WHERE order_id = :o",
            "UPDATE orders SET items_total_minor = 4321, discount_total_minor = 321 WHERE id = :o",
            o=bare,
        )
        self._add(bare, case.path)
        self._add(
            order(member, second, recent, amount=3_333), VIA_0030 if case.path == ONE else case.path
        )
        self._add(order(other, first, recent), PYTHON)
        self._add(MISSING, PYTHON)
        self.later = order(self.brand, second, recent, amount=2_000)
        if case.archived:
            with unit_of_work(engine) as s:
                archive_program(s, program_id=self.program)

    def _add(self, order: int, path: str) -> None:
        self.orders.append((order, path))


def _sql(engine: Engine, *statements: str, **params: Any) -> None:
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement), params)


def _earn(engine: Engine, program: int, order: int, *, mode: str, now: datetime) -> Any:
    if mode == "autocommit":
        return earn_order(engine, program_id=program, order_id=order, now=now)
    with unit_of_work(engine) as s:
        return earn_for_order(s, program_id=program, order_id=order, now=now)


def _path(statements: list[str]) -> str:
    if statements == [s for s in statements if EARN_ORDER_FUNCTION in s] and statements:
        return ONE
    # ``recompra_loyalty_earn(`` is not part of ``recompra_loyalty_earn_order(``.
    if any(f"{EARN_FUNCTION}(" in s for s in statements):
        return VIA_0030
    return PYTHON


@pytest.mark.parametrize("name", list(CASES))
def test_the_order_function_earns_exactly_what_the_python_path_does(
    two_databases: tuple[Engine, Engine], name: str
) -> None:
    case = CASES[name]
    functions, python = (_World(engine, case) for engine in two_databases)
    # Every order (the second one twice: a replay), then one 40 days later.
    plan = [(order, path, NOW) for order, path in functions.orders]
    plan.insert(2, (plan[1][0], plan[1][1], NOW))
    plan.append((functions.later, case.later or case.path, NOW + timedelta(days=40)))
    outcomes: dict[str, list[Any]] = {"functions": [], "python": []}
    paths: list[str] = []
    for n, (order, _path_expected, now) in enumerate(plan):
        mode = ("autocommit", "unit_of_work")[n % 2]
        with _statements(functions.engine) as seen:
            outcomes["functions"].append(
                _outcome(
                    lambda o=order, m=mode, t=now: _earn(
                        functions.engine, functions.program, o, mode=m, now=t
                    )
                )
            )
        paths.append(_path(seen))
        with python_path():
            outcomes["python"].append(
                _outcome(
                    lambda o=order, t=now: _earn(
                        python.engine, python.program, o, mode="unit_of_work", now=t
                    )
                )
            )
    rows_f, plain_f = _tables(functions.engine)
    rows_p, plain_p = _tables(python.engine)
    assert [plain_f(o) for o in outcomes["functions"]] == [plain_p(o) for o in outcomes["python"]]
    for table in TABLES:
        assert rows_f[table] == rows_p[table], table
    assert paths == [path for _order, path, _now in plan], outcomes["functions"]
    assert all(_verified(functions.engine))
    # Each case replayed an earn and refused the missing order (all, when archived).
    if not case.archived:
        assert any(o.get("duplicate") for o in outcomes["python"])
        assert any(o.get("error") == "NotFound" for o in outcomes["python"])
