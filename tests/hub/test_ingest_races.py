"""Two requests bringing the same new catalog key at once (PostgreSQL, where writers run
concurrently): both orders are stored, the product once, and nothing fails."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from dbtest import create_test_engine
from recompra.db import unit_of_work
from recompra.hub.brands import ensure_brand
from recompra.hub.ingest.orders import ingest_orders
from recompra.models import Order, Product

pytestmark = pytest.mark.postgres


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    yield from create_test_engine("postgres", tmp_path)


def _order(order_id: str, customer: str) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "purchased_at": "2024-03-01T10:00:00Z",
        "status": "delivered",
        "customer": {"id": customer, "email": f"{customer}@example.com"},
        "items": [
            {
                "product_id": "brand-new",
                "product_name": "Caneca nova",
                "category": "Cozinha nova",
                "unit_price_minor": 5890,
            }
        ],
    }


def test_two_orders_of_a_product_not_yet_in_the_catalog_both_land(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        brand_id = ensure_brand(session).id
    first_wrote = threading.Event()
    release_first = threading.Event()
    errors: list[BaseException] = []

    def first() -> None:
        try:
            with unit_of_work(engine) as session:
                result = ingest_orders(
                    session, brand_id=brand_id, source="api", orders=[_order("A", "ana")]
                )
                assert result.rejects == []
                first_wrote.set()
                # Hold the new product uncommitted while the second request inserts it.
                release_first.wait(10)
        except BaseException as exc:
            errors.append(exc)
            first_wrote.set()

    def second() -> None:
        try:
            with unit_of_work(engine) as session:
                result = ingest_orders(
                    session, brand_id=brand_id, source="api", orders=[_order("B", "bia")]
                )
                assert result.rejects == []
        except BaseException as exc:
            errors.append(exc)

    one = threading.Thread(target=first)
    one.start()
    assert first_wrote.wait(10)
    two = threading.Thread(target=second)
    two.start()
    # The second insert of the product now waits on the first transaction's row.
    time.sleep(0.5)
    release_first.set()
    one.join(20)
    two.join(20)
    assert errors == []
    with unit_of_work(engine, write=False) as session:
        products = session.scalar(
            select(func.count()).select_from(Product).where(Product.external_id == "brand-new")
        )
        orders = session.scalar(select(func.count()).select_from(Order))
    assert (products, orders) == (1, 2)
