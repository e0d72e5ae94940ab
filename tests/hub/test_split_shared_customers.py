"""Customers two brands shared before per-brand profiles are split (issue 20)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from dbtest import BACKENDS, create_test_engine
from recompra.cli.main import app as cli
from recompra.config import get_settings
from recompra.db import dispose_engines, make_engine, unit_of_work
from recompra.hub.brands import ensure_brand
from recompra.hub.customers import upsert_customers
from recompra.hub.rejects import EntityCounts
from recompra.hub.split import split_shared_customers
from recompra.loyalty import create_program
from recompra.migrate import upgrade
from recompra.models import BrandCustomer, Customer, CustomerIdentity, LoyaltyAccount, Order
from recompra.models.automation import ContactConsent

JAN = datetime(2024, 1, 1, tzinfo=UTC)
FEB = datetime(2024, 2, 1, tzinfo=UTC)


def _legacy_shared_customer(engine: Engine) -> tuple[int, int, int]:
    """Brand A's customer that brand B was linked to, as the old identity code left it:
    B's order, identity, loyalty account and link point at A's row. Returns (a, b, row)."""
    with unit_of_work(engine) as session:
        a = ensure_brand(session, "brand-a").id
        b = ensure_brand(session, "brand-b").id
        ids = upsert_customers(
            session,
            brand_id=a,
            records=[{"email": "ana@example.com", "name": "Ana", "city": "Recife"}],
            counts=EntityCounts(),
        )
        shared = ids[("email", f"@{a}", "ana@example.com")]
        session.execute(
            BrandCustomer.__table__.update()  # type: ignore[attr-defined]
            .where(BrandCustomer.customer_id == shared)
            .values(first_seen_at=JAN)
        )
        session.add(BrandCustomer(brand_id=b, customer_id=shared, first_seen_at=FEB))
        session.add(
            CustomerIdentity(
                customer_id=shared, kind="email", source=f"@{b}", value="ana@example.com"
            )
        )
        for brand, external_id in ((a, "a-1"), (b, "b-1"), (b, "b-2")):
            session.add(
                Order(
                    brand_id=brand,
                    source="t",
                    external_id=external_id,
                    customer_id=shared,
                    status="delivered",
                    purchased_at=FEB,
                    total_minor=1000,
                )
            )
        program = create_program(session, brand_id=b, name="B")
        session.add(LoyaltyAccount(program_id=program.id, customer_id=shared))
        session.add(
            ContactConsent(
                customer_id=shared, channel="email", purpose="marketing", granted=True,
                source="checkout", recorded_at=JAN,
            )
        )  # fmt: skip
    return a, b, shared


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from create_test_engine(request.param, tmp_path)


def test_a_shared_customer_becomes_one_profile_per_brand(engine: Engine) -> None:
    a, b, shared = _legacy_shared_customer(engine)

    with unit_of_work(engine) as session:
        report = split_shared_customers(session)
    assert (report.shared, report.created) == (1, 1)

    with unit_of_work(engine, write=False) as session:
        links = dict(
            session.execute(select(BrandCustomer.brand_id, BrandCustomer.customer_id)).all()
        )
        assert links[a] == shared  # the brand that saw Ana first keeps the row
        own = links[b]
        assert own != shared
        owners = dict(session.execute(select(Order.external_id, Order.customer_id)).all())
        assert owners == {"a-1": shared, "b-1": own, "b-2": own}
        identities = session.execute(
            select(CustomerIdentity.source, CustomerIdentity.customer_id)
        ).all()
        assert sorted(identities) == sorted([(f"@{a}", shared), (f"@{b}", own)])
        assert session.scalars(select(LoyaltyAccount.customer_id)).all() == [own]
        copy = session.get(Customer, own)
        assert copy is not None
        assert (copy.email, copy.name, copy.city) == ("ana@example.com", "Ana", "Recife")
        consents = session.execute(
            select(ContactConsent.customer_id, ContactConsent.source, ContactConsent.recorded_at)
        ).all()
        assert sorted(c[0] for c in consents) == sorted([shared, own])
        assert {(c[1], c[2]) for c in consents} == {("checkout", JAN)}

    with unit_of_work(engine) as session:
        again = split_shared_customers(session)
    assert (again.shared, again.created) == (0, 0)


def test_the_cli_splits_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path}/cli.db"
    engine = make_engine(url)
    upgrade(engine)
    _legacy_shared_customer(engine)
    monkeypatch.setenv("RECOMPRA_DATABASE_URL", url)
    get_settings.cache_clear()
    try:
        first = CliRunner().invoke(cli, ["hub", "split-shared-customers"])
        second = CliRunner().invoke(cli, ["hub", "split-shared-customers"])
    finally:
        dispose_engines()
        get_settings.cache_clear()
        engine.dispose()
    assert first.exit_code == 0, first.output
    assert "1 shared customers, 1 per-brand profiles created" in first.output
    assert "orders 2" in first.output
    assert "0 shared customers, 0 per-brand profiles created" in second.output
