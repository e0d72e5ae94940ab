"""A customer merge and a journey writing the merged customer's properties at the same
moment both finish (PostgreSQL): neither is aborted as a deadlock.

The journey (a decision's transaction) writes one property of the merged customer, which
locks that customer's row, and stays open; the merge starts in a thread and is left to
block; then the journey writes a property the merged customer already had and commits.
A merge that moved the merged customer's property rows before locking its row held the
very row the journey then wrote, while it waited for the journey's lock on the customer:
PostgreSQL aborted one of them. A merge locks both customers first, lower id first (as
every writer of properties locks a customer before its rows), so it waits for the
journey instead, and then moves what the journey wrote.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from dbtest import create_test_engine, wait_until_blocked_or_done
from recompra.db import unit_of_work
from recompra.hub.brands import ensure_brand
from recompra.hub.identity import merge_customers
from recompra.hub.properties import set_property
from recompra.models import BrandCustomer, Customer, CustomerProperty

OLDER = datetime(2026, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    yield from create_test_engine("postgres", tmp_path)


def _customers(engine: Engine, *, merged_lower: bool) -> tuple[int, int, int]:
    """A brand and two of its customers, the one to merge holding ``plan`` (the lower id
    or the higher): (brand, survivor, merged)."""
    with unit_of_work(engine) as session:
        brand = ensure_brand(session).id
        lower, higher = Customer(name="Ana"), Customer(name="Ana S.")
        session.add_all([lower, higher])
        session.flush()
        session.add_all(BrandCustomer(brand_id=brand, customer_id=c.id) for c in (lower, higher))
        survivor, merged = (higher, lower) if merged_lower else (lower, higher)
        session.add(
            CustomerProperty(
                brand_id=brand,
                customer_id=merged.id,
                name="plan",
                text_value="silver",
                updated_at=OLDER,
            )
        )
        return brand, survivor.id, merged.id


@pytest.mark.postgres
@pytest.mark.parametrize("merged_lower", [False, True], ids=["merged-higher", "merged-lower"])
def test_a_merge_beside_a_journey_writing_the_merged_customer_both_finish(
    engine: Engine, merged_lower: bool
) -> None:
    brand, survivor, merged = _customers(engine, merged_lower=merged_lower)
    errors: list[BaseException] = []

    def merge() -> None:
        try:
            with unit_of_work(engine) as session:
                merge_customers(
                    session, brand_id=brand, survivor_id=survivor, merged_id=merged, reason="t"
                )
        except BaseException as error:  # the thread's outcome is the test's
            errors.append(error)

    with unit_of_work(engine) as session:
        set_property(session, brand_id=brand, customer_id=merged, name="visits", value=1, now=NOW)
        thread = threading.Thread(target=merge)
        thread.start()
        wait_until_blocked_or_done(engine, thread)
        set_property(
            session, brand_id=brand, customer_id=merged, name="plan", value="gold", now=NOW
        )
    thread.join()

    assert errors == []
    with unit_of_work(engine, write=False) as session:
        held = {
            (row.customer_id, row.name): (row.text_value, row.number_value)
            for row in session.scalars(select(CustomerProperty))
        }
        merged_into = session.scalar(select(Customer.merged_into_id).where(Customer.id == merged))
    # The merge ran after the journey's commit: it moved both of the journey's writes.
    assert merged_into == survivor
    assert held == {(survivor, "plan"): ("gold", None), (survivor, "visits"): (None, 1)}
