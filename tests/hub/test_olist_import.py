"""Olist import on the real data: exact counts, idempotent re-run, SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, func, select

from dbtest import BACKENDS, create_test_engine
from recompra.db import unit_of_work
from recompra.hub.brands import ensure_brand
from recompra.hub.importers.olist import import_olist
from recompra.hub.rejects import ImportReport
from recompra.hub.stats import table_counts
from recompra.models import Customer, Order, OrderItem, Payment, Return

pytestmark = pytest.mark.slow

# The published sizes of the public Olist dataset (see ../shared/data/README.md).
OLIST_COUNTS = {
    "orders": 99_441,
    "customers": 96_096,
    "order_items": 112_650,
    "products": 32_951,
    "payments": 103_886,
    "reviews": 10_001,
}


@pytest.fixture(scope="module", params=BACKENDS)
def imported(
    request: pytest.FixtureRequest, olist_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Engine, int, ImportReport, ImportReport]]:
    """Olist imported twice into a fresh database: (engine, brand, first, second report)."""
    for engine in create_test_engine(request.param, tmp_path_factory.mktemp("olist")):
        with unit_of_work(engine) as session:
            brand_id = ensure_brand(session, "olist").id
        first = import_olist(engine, olist_dir, brand_id=brand_id)
        second = import_olist(engine, olist_dir, brand_id=brand_id)
        yield engine, brand_id, first, second


def test_first_import_has_the_published_counts(imported) -> None:  # type: ignore[no-untyped-def]
    engine, _, first, _ = imported
    with unit_of_work(engine, write=False) as session:
        counts = table_counts(session)
    for table, expected in OLIST_COUNTS.items():
        assert counts[table] == expected, table
    assert first.rejects == []
    assert first.reconciles
    assert first.counts["customers"].inserted == 96_096
    # Olist lists a person once per order: 99,441 rows, 3,345 repeats of a known person.
    assert first.counts["customers"].duplicate == 99_441 - 96_096


def test_second_import_changes_nothing(imported) -> None:  # type: ignore[no-untyped-def]
    engine, _, _, second = imported
    with unit_of_work(engine, write=False) as session:
        counts = table_counts(session)
    for table, expected in OLIST_COUNTS.items():
        assert counts[table] == expected, table
    for entity, c in second.counts.items():
        assert c.inserted == 0, entity
        assert c.updated == 0, entity
    assert second.counts["orders"].unchanged == 99_441
    assert second.reconciles


def test_order_totals_are_items_plus_freight_in_centavos(imported) -> None:  # type: ignore[no-untyped-def]
    engine, _, _, _ = imported
    with unit_of_work(engine, write=False) as session:
        order = session.scalar(
            select(Order).where(Order.external_id == "00010242fe8c5a6d1ba2dd792cb16214")
        )
        assert order is not None
        # The file's only line: price 58.90, freight 13.29.
        assert (order.items_total_minor, order.freight_total_minor, order.total_minor) == (
            5890,
            1329,
            7219,
        )
        # Purchased 2017-09-13 08:59:02 São Paulo time (UTC-3) -> 11:59:02 UTC.
        assert order.purchased_at.isoformat() == "2017-09-13T11:59:02+00:00"
        mismatched = session.scalar(
            select(func.count())
            .select_from(Order)
            .where(
                Order.items_total_minor
                != select(func.coalesce(func.sum(OrderItem.total_minor), 0))
                .where(OrderItem.order_id == Order.id)
                .scalar_subquery()
            )
        )
        assert mismatched == 0
        assert session.scalar(select(func.count()).select_from(Payment)) == 103_886


def test_canceled_orders_have_cancellation_rows(imported) -> None:  # type: ignore[no-untyped-def]
    engine, _, _, _ = imported
    with unit_of_work(engine, write=False) as session:
        canceled = session.scalar(
            select(func.count()).select_from(Order).where(Order.status == "canceled")
        )
        cancellations = session.scalar(
            select(func.count()).select_from(Return).where(Return.kind == "cancellation")
        )
        assert canceled == 625
        assert cancellations == canceled


def test_repeat_buyers_resolve_to_one_person(imported, olist_dir: Path) -> None:  # type: ignore[no-untyped-def]
    engine, _, _, _ = imported
    # Independent count with pandas: persons (customer_unique_id) with 2 or more orders.
    customers = pd.read_csv(olist_dir / "olist_customers_dataset.csv.gz")
    orders = pd.read_csv(
        olist_dir / "olist_orders_dataset.csv.gz", usecols=["order_id", "customer_id"]
    )
    per_person = orders.merge(customers, on="customer_id").groupby("customer_unique_id").size()
    expected_repeaters = int((per_person > 1).sum())
    with unit_of_work(engine, write=False) as session:
        per_customer = (
            select(Order.customer_id, func.count().label("n"))
            .group_by(Order.customer_id)
            .subquery()
        )
        repeaters = session.scalar(
            select(func.count()).select_from(per_customer).where(per_customer.c.n > 1)
        )
        people = session.scalar(select(func.count()).select_from(Customer))
    assert people == 96_096
    assert repeaters == expected_repeaters
