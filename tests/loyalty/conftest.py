"""Loyalty test fixtures: a migrated database per module on SQLite and PostgreSQL, and a
small factory for brands, customers, products, orders and programs.

Engines come from ``tests.dbtest.create_test_engine``: PostgreSQL runs when
``RECOMPRA_TEST_POSTGRES_URL`` points at a server (a database with a random name is
created per module and dropped afterwards); otherwise those params skip.
Tests isolate themselves by creating their own brand, program and customers.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from dbtest import create_test_engine
from recompra.db import unit_of_work
from recompra.loyalty import create_program, publish_rules
from recompra.models import Brand, Category, Customer, Order, OrderItem, Product

T0 = datetime(2025, 1, 1, tzinfo=UTC)
BASE_RULES: list[dict[str, Any]] = [{"type": "base", "points_per_unit": 1}]


@pytest.fixture(scope="session")
def sqlite_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory for the SQLite files of this run."""
    return tmp_path_factory.mktemp("loyalty-db")


@pytest.fixture(
    scope="module",
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def engine(request: pytest.FixtureRequest, sqlite_dir: Path) -> Iterator[Engine]:
    """A migrated database (one per module and backend)."""
    yield from create_test_engine(request.param, sqlite_dir)


_seq = itertools.count(1)


@dataclass
class World:
    """Creates hub rows and a program for one test (each call commits)."""

    engine: Engine

    def brand(self) -> int:
        """A new brand."""
        n = next(_seq)
        with unit_of_work(self.engine) as s:
            brand = Brand(slug=f"b{n}-{uuid.uuid4().hex[:6]}", name=f"Brand {n}")
            s.add(brand)
            s.flush()
            return brand.id

    def customer(self, *, birth_date: Any = None) -> int:
        """A new customer."""
        with unit_of_work(self.engine) as s:
            customer = Customer(name="Ana", birth_date=birth_date)
            s.add(customer)
            s.flush()
            return customer.id

    def product(self, brand_id: int, *, ref: str, category: str | None = None) -> int:
        """A product (with its category created on demand)."""
        with unit_of_work(self.engine) as s:
            category_id = None
            if category is not None:
                cat = Category(brand_id=brand_id, slug=category)
                s.add(cat)
                s.flush()
                category_id = cat.id
            product = Product(
                brand_id=brand_id, source="test", external_id=ref, category_id=category_id
            )
            s.add(product)
            s.flush()
            return product.id

    def order(
        self,
        brand_id: int,
        customer_id: int,
        *,
        lines: list[tuple[int | None, int]] | None = None,
        amount: int = 10_000,
        at: datetime = T0,
        status: str = "approved",
        delivered_at: datetime | None = None,
    ) -> int:
        """An order; ``lines`` are ``(product_id, amount_minor)`` (default: one line)."""
        lines = lines or [(None, amount)]
        with unit_of_work(self.engine) as s:
            order = Order(
                brand_id=brand_id,
                source="test",
                external_id=uuid.uuid4().hex,
                customer_id=customer_id,
                status=status,
                purchased_at=at,
                delivered_at=delivered_at,
                items_total_minor=sum(a for _, a in lines),
                total_minor=sum(a for _, a in lines),
            )
            s.add(order)
            s.flush()
            for number, (product_id, line_amount) in enumerate(lines, start=1):
                s.add(
                    OrderItem(
                        order_id=order.id,
                        line_number=number,
                        product_id=product_id,
                        quantity=1,
                        unit_price_minor=line_amount,
                        total_minor=line_amount,
                    )
                )
            return order.id

    def program(
        self,
        brand_id: int | None = None,
        *,
        rules: list[dict[str, Any]] | None = None,
        effective_from: datetime = T0 - timedelta(days=365),
        **settings: Any,
    ) -> tuple[int, int]:
        """A brand (unless given) with a program and one rule version: (brand, program)."""
        brand_id = brand_id or self.brand()
        settings.setdefault("return_window_days", 0)
        with unit_of_work(self.engine) as s:
            program = create_program(s, brand_id=brand_id, name="Clube", **settings)
            publish_rules(
                s,
                program_id=program.id,
                rules=BASE_RULES if rules is None else rules,
                effective_from=effective_from,
            )
            return brand_id, program.id


@pytest.fixture
def world(engine: Engine) -> World:
    """Factories bound to the module's database."""
    return World(engine)


def account_state(engine: Engine, account_id: int) -> dict[str, int | bool]:
    """The account's cached balances next to the ledger sums (see verify_account)."""
    from recompra.loyalty import verify_account

    with unit_of_work(engine, write=False) as s:
        return verify_account(s, account_id=account_id)


@pytest.fixture
def state(engine: Engine) -> Any:
    """``state(account_id)`` -> verify_account's report, asserting it is consistent."""

    def check(account_id: int) -> dict[str, int | bool]:
        report = account_state(engine, account_id)
        assert report["ok"], report
        return report

    return check


@pytest.fixture
def two_databases(tmp_path: Path) -> Iterator[tuple[Engine, Engine]]:
    """Two fresh migrated PostgreSQL databases (the differential tests: the server-side
    functions in one, the Python path in the other)."""
    first, second = (
        create_test_engine("postgres", tmp_path),
        create_test_engine("postgres", tmp_path),
    )
    yield next(first), next(second)
    for generator in (first, second):
        next(generator, None)
