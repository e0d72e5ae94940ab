"""Spend import and CAC on a spend fixture written here, checked by hand arithmetic."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from dbtest import create_test_engine
from recompra.commercial.deals import move_stage, open_opportunity
from recompra.commercial.spend import import_spend_csv
from recompra.db import unit_of_work
from recompra.hub.brands import ensure_brand
from recompra.models import Customer, CustomerScore, Lead, Order
from recompra.reads.commercial import cac_report

SPEND = (
    "month,channel,audience,amount,paid\n"
    "2024-01,paid_search,b2c,1000.00,true\n"
    "2024-01,organic_search,b2c,200.00,false\n"
    "2024-02,paid_search,b2c,600.00,true\n"
    "2024-02,paid_search,b2b,900.00,true\n"
    "2024-02,paid_search,b2b,1.00,true\n"  # repeats the key above: rejected
    "2024-13,social,b2c,5.00,true\n"  # no such month: rejected
    "2024-03,social,b2c,-5,true\n"  # negative: rejected
)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    yield from create_test_engine("sqlite", tmp_path)


def _at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC)


def _store(engine: Engine) -> int:
    """Four B2C customers and one won B2B deal; one customer has a CLV score."""
    with unit_of_work(engine) as session:
        brand_id = ensure_brand(session, "cac").id
        first_orders = [
            ("c1", date(2024, 1, 5), "paid_search", 10_000),
            ("c2", date(2024, 1, 20), "organic_search", 4_000),
            ("c3", date(2024, 2, 3), "paid_search", 6_000),
            ("c4", date(2024, 4, 1), "paid_search", 9_000),  # outside the spend months
        ]
        for i, (name, day, channel, total) in enumerate(first_orders):
            customer = Customer(name=name)
            session.add(customer)
            session.flush()
            for n, (when, amount) in enumerate([(day, total), (date(2024, 6, 1), 2_000)]):
                session.add(
                    Order(
                        brand_id=brand_id,
                        source="t",
                        external_id=f"{name}-{n}",
                        customer_id=customer.id,
                        status="delivered",
                        channel=channel,
                        purchased_at=_at(when),
                        total_minor=amount,
                    )
                )
            if i == 0:
                session.add(
                    CustomerScore(
                        brand_id=brand_id,
                        customer_id=customer.id,
                        as_of=date(2024, 6, 30),
                        clv_minor=40_000,
                    )
                )
        lead = Lead(
            brand_id=brand_id,
            source="t",
            external_id="l1",
            channel="paid_search",
            first_contact_on=date(2024, 1, 10),
        )
        session.add(lead)
        session.flush()
        opp = open_opportunity(
            session, brand_id=brand_id, external_id="o1", lead_id=lead.id, at=_at(date(2024, 1, 10))
        )
        move_stage(
            session,
            brand_id=brand_id,
            opportunity_id=opp.id,
            stage_key="won",
            at=_at(date(2024, 2, 14)),
        )
    return brand_id


def test_without_spend_every_tile_says_what_is_missing(engine: Engine) -> None:
    brand_id = _store(engine)
    with unit_of_work(engine) as session:
        report = cac_report(session, brand_id=brand_id, gross_margin=0.3)
    for audience in report["audiences"]:
        assert audience["blended_minor"] is None
        assert audience["payback_months"] is None
        assert "no_spend" in audience["missing"]


def test_cac_on_a_spend_fixture(engine: Engine, tmp_path: Path) -> None:
    brand_id = _store(engine)
    path = tmp_path / "spend.csv"
    path.write_text(SPEND)
    imported = import_spend_csv(engine, path, brand_id=brand_id)
    assert imported.reconciles
    assert {(r.line, r.column) for r in imported.rejects} == {
        (6, "audience+channel+month"),
        (7, "month"),
        (8, "amount"),
    }
    assert import_spend_csv(engine, path, brand_id=brand_id).counts["spend"].unchanged == 4

    with unit_of_work(engine) as session:
        report = cac_report(session, brand_id=brand_id, gross_margin=0.5)
    b2c, b2b = report["audiences"]
    # B2C: spend 1000 + 200 + 600 = 1800.00 over Jan-Feb; new customers c1, c2, c3.
    assert b2c["spend_minor"] == 180_000
    assert b2c["new_customers"] == 3
    assert b2c["blended_minor"] == 60_000
    # Paid: 1600.00 over the two paid-search customers (c1, c3).
    assert b2c["paid_minor"] == 80_000
    channels = {c["channel"]: c for c in b2c["channels"]}
    assert channels["organic_search"]["cac_minor"] == 20_000
    assert channels["paid_search"]["cac_minor"] == 80_000
    # First-year revenue per customer / 12, mean over c1..c3: (12000 + 6000 + 8000)/3/12.
    monthly = (12_000 + 6_000 + 8_000) / 3 / 12
    assert b2c["payback_months"] == pytest.approx(60_000 / (monthly * 0.5))
    # Only c1 has a CLV score: 40000 / 60000.
    assert b2c["ltv_to_cac"] == pytest.approx(40_000 / 60_000)
    # B2B: 900.00 in February, one deal won in February from paid search.
    assert b2b["blended_minor"] == 90_000
    assert b2b["paid_minor"] == 90_000
    assert "no_revenue" in b2b["missing"]
