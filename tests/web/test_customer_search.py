"""The customers list's search, sorts and totals on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from dbtest import BACKENDS, create_test_engine
from recompra.db import unit_of_work
from recompra.models import Customer
from recompra.reads.customer_search import find_customers
from samplestore import SampleStore, seed_sample

CPF = "52998224725"  # valid check digits (Receita Federal's algorithm)
PHONE = "5511987654321"


@pytest.fixture(params=BACKENDS)
def seeded(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Engine, SampleStore]]:
    for engine in create_test_engine(request.param, tmp_path):
        with unit_of_work(engine) as session:
            store = seed_sample(session, customers=30)
            target = session.get(Customer, store.customers_a[5])
            assert target is not None
            target.document, target.phone = CPF, PHONE
        yield engine, store


@pytest.mark.parametrize(
    "term",
    [CPF, "529.982.247-25", "(11) 98765-4321", "11987654321", "+55 11 98765-4321"],
)
def test_documents_and_phones_match_with_or_without_punctuation(
    seeded: tuple[Engine, SampleStore], term: str
) -> None:
    engine, store = seeded
    with unit_of_work(engine, write=False) as session:
        found = find_customers(session, brand_id=store.brand_a, q=term, limit=50, offset=0)
    assert found.total == 1
    assert [c.id for c in found.items] == [store.customers_a[5]]


def test_name_and_email_match_case_insensitively(seeded: tuple[Engine, SampleStore]) -> None:
    engine, store = seeded
    with unit_of_work(engine, write=False) as session:
        target = session.get(Customer, store.customers_a[7])
        assert target is not None
        assert target.name
        assert target.email
        by_name = find_customers(
            session, brand_id=store.brand_a, q=target.name.upper(), limit=50, offset=0
        )
        by_email = find_customers(
            session, brand_id=store.brand_a, q=target.email, limit=50, offset=0
        )
    assert target.id in [c.id for c in by_name.items]
    assert [c.id for c in by_email.items] == [target.id]


def test_pages_add_up_to_the_total_in_sort_order(seeded: tuple[Engine, SampleStore]) -> None:
    engine, store = seeded
    with unit_of_work(engine, write=False) as session:
        everyone = find_customers(session, brand_id=store.brand_a, q=None, limit=1000, offset=0)
        pages = [
            find_customers(
                session, brand_id=store.brand_a, q="", sort="-id", limit=7, offset=offset
            )
            for offset in range(0, everyone.total, 7)
        ]
        by_name = find_customers(session, brand_id=store.brand_a, q="", limit=1000, offset=0)
    ids = [c.id for page in pages for c in page.items]
    assert everyone.total == len(store.customers_a) == len(ids)
    assert ids == sorted(ids, reverse=True)
    assert all(page.total == everyone.total for page in pages)
    names = [c.name for c in by_name.items]
    assert names == sorted(names, key=lambda n: (n is None, n or ""))


def test_short_digit_runs_do_not_match_documents(seeded: tuple[Engine, SampleStore]) -> None:
    engine, store = seeded
    with unit_of_work(engine, write=False) as session:
        found = find_customers(session, brand_id=store.brand_a, q="529", limit=50, offset=0)
    assert store.customers_a[5] not in [c.id for c in found.items]
