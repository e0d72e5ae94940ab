"""The property limit holds under concurrency: two writers that each find the customer at
99 properties and each add a new one end at 100, not 101 (both backends).

Writer A adds its property and stays open; writer B starts in a thread and either
finishes (it did not wait for A: the race) or waits on A's lock; then A commits. On
PostgreSQL, "waits" is read from ``pg_stat_activity``; on SQLite a writer waits at its
``BEGIN IMMEDIATE`` whatever it does, so the test shows the order there, not the lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from dbtest import BACKENDS, create_test_engine, wait_until_blocked_or_done
from recompra.db import unit_of_work
from recompra.errors import InvalidInput
from recompra.hub.brands import ensure_brand
from recompra.hub.properties import MAX_PROPERTIES, set_property, write_properties
from recompra.models import BrandCustomer, Customer, CustomerProperty

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)
Writer = Callable[[Session, int, int, str], object]


def _journey(session: Session, brand_id: int, customer_id: int, name: str) -> object:
    return set_property(
        session, brand_id=brand_id, customer_id=customer_id, name=name, value="x", now=NOW
    )


def _patch(session: Session, brand_id: int, customer_id: int, name: str) -> object:
    try:
        return write_properties(
            session,
            brand_id=brand_id,
            customer_id=customer_id,
            values={name: "x"},
            replace=False,
            now=NOW,
        )
    except InvalidInput as refused:
        return refused


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from create_test_engine(request.param, tmp_path)


def _customer_at_99(engine: Engine) -> tuple[int, int]:
    with unit_of_work(engine) as session:
        brand = ensure_brand(session).id
        customer = Customer(name="Ana")
        session.add(customer)
        session.flush()
        session.add(BrandCustomer(brand_id=brand, customer_id=customer.id))
        session.add_all(
            CustomerProperty(brand_id=brand, customer_id=customer.id, name=f"p{i}", flag_value=True)
            for i in range(MAX_PROPERTIES - 1)
        )
        return brand, customer.id


@pytest.mark.parametrize(
    ("first", "second"),
    [(_journey, _journey), (_patch, _journey), (_journey, _patch)],
    ids=["journey-journey", "api-journey", "journey-api"],
)
def test_two_writers_at_99_properties_end_at_100(
    engine: Engine, first: Writer, second: Writer
) -> None:
    brand, customer = _customer_at_99(engine)
    outcome: list[object] = []

    def writer_b() -> None:
        with unit_of_work(engine) as session:
            outcome.append(second(session, brand, customer, "from_b"))

    with unit_of_work(engine) as session:
        first(session, brand, customer, "from_a")
        b = threading.Thread(target=writer_b)
        b.start()
        wait_until_blocked_or_done(engine, b)
    b.join()

    with unit_of_work(engine, write=False) as session:
        names = set(
            session.scalars(
                select(CustomerProperty.name).where(CustomerProperty.customer_id == customer)
            )
        )
        total = session.scalar(select(func.count()).select_from(CustomerProperty))
    assert total == MAX_PROPERTIES
    assert "from_a" in names
    assert "from_b" not in names
    # B saw A's property: the journey wrote nothing, the API refused the request.
    (result,) = outcome
    assert result is None or isinstance(result, InvalidInput)
