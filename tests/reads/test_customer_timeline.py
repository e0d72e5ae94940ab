"""The customer timeline's returns: brand isolation and an indexed plan on both backends.

A customer shared by two brands has a return with each; brand A's timeline must show
only A's. The returns are reached through the customer's orders (``ix_orders_customer_
purchased`` then ``ix_returns_order_id``), never by walking every return of the brand.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, event
from sqlalchemy.orm import Session

from dbtest import BACKENDS, create_test_engine
from recompra.db import unit_of_work
from recompra.db.dialect import is_sqlite
from recompra.hub.brands import ensure_brand
from recompra.models import BrandCustomer, Customer, Order, Return
from recompra.reads.customers import timeline

AT = datetime(2026, 3, 1, 12, tzinfo=UTC)


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from create_test_engine(request.param, tmp_path, pool_size=2)


def _order_with_return(session: Session, brand_id: int, customer_id: int, tag: str) -> int:
    """An order of the brand with one return; the return's id."""
    order = Order(
        brand_id=brand_id,
        source="test",
        external_id=f"o-{tag}",
        customer_id=customer_id,
        status="delivered",
        purchased_at=AT,
        total_minor=10_000,
    )
    session.add(order)
    session.flush()
    ret = Return(
        brand_id=brand_id,
        source="test",
        external_id=f"r-{tag}",
        order_id=order.id,
        kind="return",
        amount_minor=2_500,
        created_at=AT,
    )
    session.add(ret)
    session.flush()
    return ret.id


def _returns_plan(session: Session, brand_id: int, customer_id: int) -> str:
    """The query plan of the timeline's statement on ``returns``, as one text."""
    statements: list[tuple[str, Any]] = []

    def capture(_c: Connection, _cur: Any, statement: str, params: Any, *_: Any) -> None:
        if "FROM returns" in statement:
            statements.append((statement, params))

    bind = session.get_bind()
    event.listen(bind, "before_cursor_execute", capture)
    try:
        timeline(session, brand_id=brand_id, customer_id=customer_id, limit=10)
    finally:
        event.remove(bind, "before_cursor_execute", capture)
    assert len(statements) == 1
    statement, params = statements[0]
    connection = session.connection()
    if is_sqlite(connection):
        rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params)
        return "\n".join(str(row[-1]) for row in rows)
    # The tables are tiny, so PostgreSQL would rightly read them whole; with sequential
    # scans priced out, the plan shows which index the statement can use at all.
    connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
    rows = connection.exec_driver_sql(f"EXPLAIN {statement}", params)
    return "\n".join(str(row[0]) for row in rows)


def test_timeline_shows_only_the_brands_returns_through_an_index(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        brand_a = ensure_brand(session, "timeline-a").id
        brand_b = ensure_brand(session, "timeline-b").id
        customer = Customer(name="Ana Souza", email="ana@example.com")
        session.add(customer)
        session.flush()
        session.add_all(
            [
                BrandCustomer(brand_id=brand_a, customer_id=customer.id),
                BrandCustomer(brand_id=brand_b, customer_id=customer.id),
            ]
        )
        return_a = _order_with_return(session, brand_a, customer.id, "a")
        return_b = _order_with_return(session, brand_b, customer.id, "b")

    with unit_of_work(engine) as session:
        entries = timeline(session, brand_id=brand_a, customer_id=customer.id, limit=10)
        returns = {entry.id for entry in entries if entry.kind == "return"}
        assert returns == {return_a}
        assert return_b not in returns
        plan = _returns_plan(session, brand_a, customer.id)

    assert "ix_returns_order_id" in plan, plan
    assert "ix_orders_customer_purchased" in plan, plan
