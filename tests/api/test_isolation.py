"""A key restricted to one brand never sees another brand's data (every read endpoint)."""

from __future__ import annotations

from pathlib import Path

import pytest
from apitest import Keys, auth
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from recompra.db import unit_of_work
from recompra.models import Order
from recompra.snapshot.schema import NON_PURCHASE_STATUSES
from samplestore import SampleStore

CUSTOMER_PATHS = (
    "/v1/customers/{id}",
    "/v1/customers/{id}/segments",
    "/v1/customers/{id}/timeline",
)
LIST_PATHS = (
    "/v1/customers",
    "/v1/segments/customers",
    "/v1/scores/clv",
    "/v1/scores/churn",
)
BRAND_PATHS = (
    "/v1/segments",
    "/v1/rfm",
    "/v1/kpis",
    "/v1/kpis/summary",
    "/v1/cohorts",
    "/v1/scores/clv/distribution",
    *LIST_PATHS,
)


@pytest.mark.parametrize("path", CUSTOMER_PATHS)
def test_other_brands_customers_are_404(
    client: TestClient, keys: Keys, store: SampleStore, path: str
) -> None:
    for customer_id in store.customers_b:
        response = client.get(path.format(id=customer_id), headers=auth(keys.read_a))
        assert response.status_code == 404, response.json()
        assert response.json()["error"]["code"] == "not_found"
        # The owner sees them.
        own = client.get(path.format(id=customer_id), headers=auth(keys.read_b))
        assert own.status_code == 200


@pytest.mark.parametrize("path", BRAND_PATHS)
def test_naming_another_brand_is_404(
    client: TestClient, keys: Keys, store: SampleStore, path: str
) -> None:
    response = client.get(f"{path}?brand_id={store.brand_b}", headers=auth(keys.read_a))
    assert response.status_code == 404
    assert response.json()["error"] == {
        "code": "not_found",
        "message": f"brand {store.brand_b} not found",
        "field": "brand_id",
    }


@pytest.mark.parametrize("path", LIST_PATHS)
def test_lists_hold_only_the_keys_brand(
    client: TestClient, keys: Keys, store: SampleStore, path: str
) -> None:
    response = client.get(f"{path}?limit=500", headers=auth(keys.read_a))
    assert response.status_code == 200
    ids = {item["id"] for item in response.json()["items"]}
    assert ids
    assert ids <= set(store.customers_a)
    assert not ids & set(store.customers_b)


def test_search_by_other_brands_id_finds_nothing(
    client: TestClient, keys: Keys, store: SampleStore
) -> None:
    response = client.get(f"/v1/customers?q={store.customers_b[0]}", headers=auth(keys.read_a))
    assert response.json()["items"] == []


def test_shared_customer_shows_each_brand_its_own_history(
    client: TestClient, keys: Keys, store: SampleStore, engine: Engine
) -> None:
    cid = store.shared_customer
    a = client.get(f"/v1/customers/{cid}", headers=auth(keys.read_a)).json()
    b = client.get(f"/v1/customers/{cid}", headers=auth(keys.read_b)).json()
    with unit_of_work(engine, write=False) as session:
        expected = {
            brand: session.execute(
                select(func.count(), func.sum(Order.total_minor)).where(
                    Order.brand_id == brand,
                    Order.customer_id == cid,
                    Order.status.not_in(NON_PURCHASE_STATUSES),
                )
            ).one()
            for brand in (store.brand_a, store.brand_b)
        }
    assert (a["stats"]["orders"], a["stats"]["spent_minor"]) == tuple(expected[store.brand_a])
    assert (b["stats"]["orders"], b["stats"]["spent_minor"]) == tuple(expected[store.brand_b])
    timeline_b = client.get(f"/v1/customers/{cid}/timeline", headers=auth(keys.read_b)).json()
    b_orders = set(store.orders_b)
    assert {e["id"] for e in timeline_b["items"] if e["kind"] == "order"} <= b_orders
    history_b = client.get(f"/v1/customers/{cid}/segments", headers=auth(keys.read_b)).json()
    assert history_b == []  # scores exist only for brand A


def test_brand_totals_differ_per_key(
    client: TestClient, keys: Keys, store: SampleStore, analysed: Path
) -> None:
    a = client.get("/v1/kpis/summary", headers=auth(keys.read_a)).json()
    b = client.get("/v1/kpis/summary", headers=auth(keys.read_b)).json()
    assert a["customers"] == len(store.customers_a)
    assert b["customers"] == len(store.customers_b) + 1
