"""The property limit holds on every way in: a journey's write and a customer merge.

The API's write path refuses a request past the limit (tests/api/test_customer_properties.py);
here a journey's ``set_property`` and a merge, which used to add rows unchecked.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from dbtest import create_test_engine
from recompra.db import unit_of_work
from recompra.hub.brands import ensure_brand
from recompra.hub.identity import unmerge
from recompra.hub.ingest.customers import ingest_customers
from recompra.hub.properties import MAX_PROPERTIES, fit_new_properties, set_property
from recompra.models import BrandCustomer, Customer, CustomerMerge, CustomerProperty

OLD = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    yield from create_test_engine("sqlite", tmp_path)


def _add_properties(
    session: Session, brand_id: int, customer_id: int, properties: dict[str, datetime]
) -> None:
    """A text property per name (its value names the customer), updated at the time given."""
    session.add_all(
        CustomerProperty(
            brand_id=brand_id,
            customer_id=customer_id,
            name=name,
            text_value=f"{name}@{customer_id}",
            updated_at=at,
        )
        for name, at in properties.items()
    )
    session.flush()


def _customer(session: Session, brand_id: int, properties: dict[str, datetime]) -> int:
    """A customer of the brand with the properties given."""
    customer = Customer(name="Ana")
    session.add(customer)
    session.flush()
    session.add(BrandCustomer(brand_id=brand_id, customer_id=customer.id, first_seen_at=OLD))
    _add_properties(session, brand_id, customer.id, properties)
    return customer.id


def _properties(engine: Engine, customer_id: int) -> dict[str, str | None]:
    with unit_of_work(engine, write=False) as session:
        rows = session.execute(
            select(CustomerProperty.name, CustomerProperty.text_value).where(
                CustomerProperty.customer_id == customer_id
            )
        )
        return {name: value for name, value in rows}


def test_new_names_fill_the_free_places_newest_first() -> None:
    held = [f"p{i}" for i in range(MAX_PROPERTIES - 2)]
    offered = {
        "p0": OLD,  # held: always fits
        "old": OLD,
        "newer": OLD + timedelta(days=2),
        "b-tie": OLD + timedelta(days=1),
        "a-tie": OLD + timedelta(days=1),
    }
    fitted = fit_new_properties(held, offered)
    assert fitted.kept == {"p0", "newer", "a-tie"}
    assert fitted.left_out == {"b-tie", "old"}


def test_a_journey_never_pushes_a_customer_past_the_limit(engine: Engine) -> None:
    now = OLD + timedelta(days=30)
    with unit_of_work(engine) as session:
        brand = ensure_brand(session).id
        full = _customer(session, brand, {f"p{i}": OLD for i in range(MAX_PROPERTIES)})
        added = set_property(
            session, brand_id=brand, customer_id=full, name="extra", value="x", now=now
        )
        changed = set_property(
            session, brand_id=brand, customer_id=full, name="p0", value="new", now=now
        )
    assert added is None
    assert changed == "new"
    after = _properties(engine, full)
    assert len(after) == MAX_PROPERTIES
    assert "extra" not in after
    assert after["p0"] == "new"


def test_a_merge_keeps_the_limit_reports_the_rest_and_unmerge_restores(engine: Engine) -> None:
    """Two customers of the brand become one through an ingest: the survivor (the older
    customer) ends at the limit, the left-out properties are counted in the ingest's
    report and kept on the merged customer, and unmerge restores both exactly."""
    newest = OLD + timedelta(days=10)
    with unit_of_work(engine) as session:
        brand = ensure_brand(session).id
        first = ingest_customers(
            session,
            brand_id=brand,
            source="shop",
            customers=[{"id": "c1"}, {"id": "c2", "email": "ana@example.com"}],
        )
        survivor, merged = (int(i) for i in first.ids if i is not None)
        _add_properties(session, brand, survivor, {f"p{i}": OLD for i in range(MAX_PROPERTIES - 1)})
        _add_properties(
            session,
            brand,
            merged,
            {
                "p0": newest,  # both have it: the newer (merged) value wins, count unchanged
                "p1": OLD - timedelta(days=1),  # both: the survivor's newer value stays
                "oldest": OLD + timedelta(days=1),
                "middle": OLD + timedelta(days=2),
                "newest": newest,  # the one free place goes to the newest new name
            },
        )
        # One record carrying both customers' identities: they are one person.
        joined = ingest_customers(
            session,
            brand_id=brand,
            source="shop",
            customers=[{"id": "c1", "email": "ana@example.com"}],
        )
        merge = session.scalars(select(CustomerMerge)).one()
        left_out = set(
            session.scalars(
                select(CustomerProperty.name).where(
                    CustomerProperty.id.in_(merge.moved["customer_properties_left_out"])
                )
            )
        )

    counts = joined.counts["merged_properties"]
    assert (counts.read, counts.inserted, counts.updated, counts.unchanged) == (5, 1, 1, 1)
    assert counts.rejected == 2
    assert (merge.survivor_id, merge.merged_id) == (survivor, merged)
    assert left_out == {"oldest", "middle"}
    after = _properties(engine, survivor)
    assert len(after) == MAX_PROPERTIES
    assert after["newest"] == f"newest@{merged}"
    assert after["p0"] == f"p0@{merged}"
    assert after["p1"] == f"p1@{survivor}"
    assert set(_properties(engine, merged)) == {"p0", "p1", "oldest", "middle"}

    with unit_of_work(engine) as session:
        unmerge(session, merge_id=merge.id)
    restored = _properties(engine, survivor)
    assert restored == {f"p{i}": f"p{i}@{survivor}" for i in range(MAX_PROPERTIES - 1)}
    assert set(_properties(engine, merged)) == {"p0", "p1", "oldest", "middle", "newest"}
    with unit_of_work(engine, write=False) as session:
        total = session.scalar(select(func.count()).select_from(CustomerProperty))
    assert total == (MAX_PROPERTIES - 1) + 5  # nothing was dropped
