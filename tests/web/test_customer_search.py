"""The customers list's search, sorts and totals on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from dbtest import BACKENDS, create_test_engine
from recompra.db import unit_of_work
from recompra.generate import GeneratorConfig, generate_tables
from recompra.hub.importers.generated import load_generated
from recompra.models import Brand, Customer, Order
from recompra.models.segments import Segment, SegmentMember, SegmentVersion
from recompra.reads.customer_search import CustomerFilter, filter_options, find_customers
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


def test_a_generated_demo_customer_is_found_by_each_identity(tmp_path: Path) -> None:
    for engine in create_test_engine("sqlite", tmp_path):
        with unit_of_work(engine) as session:
            brand = Brand(slug="demo", name="Demo")
            session.add(brand)
            session.flush()
            brand_id = brand.id
        load_generated(
            engine, generate_tables(GeneratorConfig(seed=3, n_customers=200)), brand_id=brand_id
        )
        with unit_of_work(engine, write=False) as session:
            person = session.scalars(select(Customer).order_by(Customer.id).limit(1)).one()
            assert person.name
            assert person.email
            assert person.document
            assert person.phone
            cpf = person.document
            national = person.phone[2:]  # without the 55 country code
            terms = [
                person.name,
                person.email.upper(),
                cpf,
                f"{cpf[:3]}.{cpf[3:6]}.{cpf[6:9]}-{cpf[9:]}",
                f"({national[:2]}) {national[2:7]}-{national[7:]}",
            ]
            for term in terms:
                found = find_customers(session, brand_id=brand_id, q=term, limit=50, offset=0)
                assert person.id in [c.id for c in found.items], term


def _filtered(session: Session, brand_id: int, who: CustomerFilter) -> list[int]:
    """The ids of the brand's customers ``who`` keeps, checking the total against them."""
    found = find_customers(
        session, brand_id=brand_id, q=None, sort="id", limit=50, offset=0, who=who
    )
    assert found.total == len(found.items)
    return [c.id for c in found.items]


def test_state_and_channel_filters(seeded: tuple[Engine, SampleStore]) -> None:
    engine, store = seeded
    with unit_of_work(engine) as session:
        # Two of the brand's customers bought through the app; one of them lives in AC
        # (a state the sample never draws), so each filter and both together are countable.
        app_buyers = store.customers_a[:2]
        for order in session.scalars(select(Order).where(Order.customer_id.in_(app_buyers))):
            if order.brand_id == store.brand_a:
                order.channel = "app"
        target = session.get(Customer, app_buyers[0])
        assert target is not None
        target.state = "AC"
    with unit_of_work(engine, write=False) as session:
        a = store.brand_a
        assert _filtered(session, a, CustomerFilter(channel="app")) == sorted(app_buyers)
        assert _filtered(session, a, CustomerFilter(state="AC")) == [app_buyers[0]]
        both = CustomerFilter(state="AC", channel="app")
        assert _filtered(session, a, both) == [app_buyers[0]]
        assert _filtered(session, a, CustomerFilter(state="AC", channel="web")) == []
        options = filter_options(session, brand_id=store.brand_a)
        assert "app" in options.channels
        assert "AC" in options.states


def test_live_segment_filter(seeded: tuple[Engine, SampleStore]) -> None:
    engine, store = seeded
    members = sorted(store.customers_a[3:6])
    with unit_of_work(engine) as session:
        segment = Segment(brand_id=store.brand_a, key="vip-test")
        session.add(segment)
        session.flush()
        session.add(
            SegmentVersion(
                segment_id=segment.id,
                version=1,
                name_pt="VIP de teste",
                name_en="Test VIPs",
                rule={},
                rule_hash="0" * 64,
            )
        )
        now = datetime.now(UTC)
        session.add_all(
            SegmentMember(segment_id=segment.id, customer_id=c, version=1, entered_at=now)
            for c in members
        )
        segment_id = segment.id
    with unit_of_work(engine, write=False) as session:
        who = CustomerFilter(live_segment=segment_id)
        assert _filtered(session, store.brand_a, who) == members
        # Another brand's view of the same segment id finds no one.
        assert _filtered(session, store.brand_b, who) == []
        options = filter_options(session, brand_id=store.brand_a)
        assert [(s.id, s.name_pt) for s in options.live_segments] == [(segment_id, "VIP de teste")]
