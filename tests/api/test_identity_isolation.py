"""Brand isolation through identities (issue 20, 1b): the attacks of the issue, via the API.

Brand B ingests a customer with an e-mail (or CPF) that brand A already holds. B must
get a profile of its own: it never reads A's phone, city or birth date, never renames
A's customer, never changes A's consents, and one B record carrying A's customer X's
e-mail and A's customer Y's CPF must not merge X and Y.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from apitest import auth
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from dbtest import BACKENDS, create_test_engine
from recompra.api.settings import ApiSettings
from recompra.auth.keys import create_api_key
from recompra.config import Settings
from recompra.db import unit_of_work
from recompra.hub.brands import ensure_brand
from recompra.models import Customer, CustomerMerge
from recompra.models.automation import ContactConsent
from recompra.server import create_app

ANA = {
    "id": "a-1",
    "email": "ana@example.com",
    "name": "Ana Souza",
    "phone": "+55 11 98765-4321",
    "city": "Campinas",
    "state": "SP",
    "birth_date": "1990-05-17",
}


class TwoBrands:
    """A client over a fresh database with brands A and B and one ingest+admin key each."""

    def __init__(self, engine: Engine, home: Path) -> None:
        with unit_of_work(engine) as session:
            self.brand_a = ensure_brand(session, "loja-a").id
            self.brand_b = ensure_brand(session, "loja-b").id
            _, self.key_a = create_api_key(
                session, scopes=["admin", "ingest", "read"], brand_id=self.brand_a
            )
            _, self.key_b = create_api_key(
                session, scopes=["admin", "ingest", "read"], brand_id=self.brand_b
            )
        settings = Settings(home=home, environment="test")
        api = ApiSettings(rate_limit_burst=10_000, rate_limit_per_second=10_000)
        self.client = TestClient(create_app(engine, settings, api))
        self.engine = engine

    def ingest(self, key: str, record: dict[str, Any]) -> int:
        response = self.client.post(
            "/v1/ingest/customers?source=site", json=record, headers=auth(key)
        )
        assert response.status_code == 200, response.json()
        customer_id: int = response.json()["ids"][0]
        return customer_id

    def profile(self, key: str, customer_id: int) -> Any:
        return self.client.get(f"/v1/customers/{customer_id}", headers=auth(key))


@pytest.fixture(params=BACKENDS)
def brands(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TwoBrands]:
    for engine in create_test_engine(request.param, tmp_path):
        setup = TwoBrands(engine, tmp_path)
        with setup.client:
            yield setup


def test_same_email_in_another_brand_is_another_profile(brands: TwoBrands) -> None:
    ana = brands.ingest(brands.key_a, ANA)
    intruder = brands.ingest(brands.key_b, {"id": "b-1", "email": ANA["email"], "name": "Intruso"})
    assert intruder != ana
    assert brands.profile(brands.key_b, ana).status_code == 404
    seen_by_b = brands.profile(brands.key_b, intruder).json()
    assert (seen_by_b["name"], seen_by_b["email"]) == ("Intruso", ANA["email"])
    assert (seen_by_b["phone"], seen_by_b["city"], seen_by_b["birth_date"]) == (None, None, None)
    seen_by_a = brands.profile(brands.key_a, ana).json()
    assert (seen_by_a["name"], seen_by_a["city"], seen_by_a["birth_date"]) == (
        "Ana Souza",
        "Campinas",
        "1990-05-17",
    )
    assert seen_by_a["phone"] is not None


def test_a_record_of_brand_b_never_merges_brand_a_customers(brands: TwoBrands) -> None:
    x = brands.ingest(brands.key_a, {"id": "a-x", "email": "x@example.com", "name": "Xavier"})
    y = brands.ingest(brands.key_a, {"id": "a-y", "document": "52998224725", "name": "Yara"})
    brands.ingest(
        brands.key_b,
        {"id": "b-2", "email": "x@example.com", "document": "52998224725", "name": "B"},
    )
    with unit_of_work(brands.engine, write=False) as session:
        assert session.scalar(select(func.count()).select_from(CustomerMerge)) == 0
        merged = session.scalars(select(Customer.merged_into_id).where(Customer.id.in_([x, y])))
        assert list(merged) == [None, None]
    assert brands.profile(brands.key_a, x).json()["name"] == "Xavier"
    assert brands.profile(brands.key_a, y).json()["name"] == "Yara"


def test_brand_b_consent_never_changes_brand_a_consent(brands: TwoBrands) -> None:
    ana = brands.ingest(brands.key_a, ANA)
    intruder = brands.ingest(brands.key_b, {"id": "b-1", "email": ANA["email"]})
    consent = {"channel": "email", "purpose": "marketing", "source": "form"}
    granted = brands.client.put(
        "/v1/automation/consents",
        json={"customer_id": ana, "granted": True, **consent},
        headers=auth(brands.key_a),
    )
    assert granted.status_code == 200, granted.json()
    withdrawn = brands.client.put(
        "/v1/automation/consents",
        json={"customer_id": intruder, "granted": False, **consent},
        headers=auth(brands.key_b),
    )
    assert withdrawn.status_code == 200
    foreign = brands.client.put(
        "/v1/automation/consents",
        json={"customer_id": ana, "granted": False, **consent},
        headers=auth(brands.key_b),
    )
    assert foreign.status_code == 404
    with unit_of_work(brands.engine, write=False) as session:
        assert (
            session.scalar(select(ContactConsent.granted).where(ContactConsent.customer_id == ana))
            is True
        )


def test_the_same_brand_still_merges_its_own_customers(brands: TwoBrands) -> None:
    x = brands.ingest(brands.key_a, {"id": "a-x", "email": "x@example.com"})
    y = brands.ingest(brands.key_a, {"id": "a-y", "document": "52998224725"})
    both = brands.ingest(
        brands.key_a, {"id": "a-z", "email": "x@example.com", "document": "52998224725"}
    )
    assert both == min(x, y)
    with unit_of_work(brands.engine, write=False) as session:
        assert session.scalar(select(func.count()).select_from(CustomerMerge)) == 1
