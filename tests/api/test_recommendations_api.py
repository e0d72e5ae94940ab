"""Recommendation endpoints over tables computed from the sample store; brand isolation."""

from __future__ import annotations

from pathlib import Path

import pytest
from apitest import Keys, auth
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from recompra.db import unit_of_work
from recompra.hub.ingest.orders import ingest_orders
from recompra.models import Brand, Product
from recompra.recommend import RefreshConfig, refresh
from recompra.snapshot.export import snapshot_tables
from samplestore import SampleStore


def _compute(
    engine: Engine, app: FastAPI, brand_id: int, *, flat: bool = False, into: str | None = None
) -> Path:
    home: Path = app.state.settings.home
    out = home / "recommendations" if flat else home / "recommendations" / (into or str(brand_id))
    refresh(snapshot_tables(engine, brand_id=brand_id), out, config=RefreshConfig(k=5))
    return out


@pytest.fixture
def computed(engine: Engine, app: FastAPI, store: SampleStore) -> dict[str, int]:
    """Brand A's tables, after three baskets of mug + coffee (the sample has single items)."""
    baskets = [
        {
            "order_id": f"b{n}",
            "purchased_at": f"2024-05-0{n + 1}T10:00:00",
            "customer": {"email": f"basket{n}@example.com"},
            "items": [
                {"product_id": "mug", "product_name": "Caneca", "unit_price_minor": 3000},
                {"product_id": "coffee", "product_name": "Café", "unit_price_minor": 2500},
            ],
        }
        for n in range(3)
    ]
    with unit_of_work(engine) as session:
        result = ingest_orders(session, brand_id=store.brand_a, source="api", orders=baskets)
    assert result.rejects == []
    _compute(engine, app, store.brand_a)
    with unit_of_work(engine, write=False) as session:
        rows = session.execute(
            select(Product.external_id, Product.id).where(Product.source == "api")
        ).all()
    return {str(external): int(pk) for external, pk in rows}


def test_not_computed_is_a_clear_404(client: TestClient, keys: Keys, store: SampleStore) -> None:
    for path in (
        f"/v1/products/{store.products_a[0]}/bought-together",
        f"/v1/customers/{store.customers_a[0]}/next-best-offer",
    ):
        response = client.get(path, headers=auth(keys.read_a))
        assert response.status_code == 404
        assert response.json()["error"] == {
            "code": "not_computed",
            "message": "recommendations not computed yet: run recompra recommend refresh",
            "field": None,
        }


def test_flat_directory_is_ignored_on_a_multi_brand_install(
    client: TestClient, keys: Keys, store: SampleStore, engine: Engine, app: FastAPI
) -> None:
    _compute(engine, app, store.brand_b, flat=True)
    response = client.get(
        f"/v1/customers/{store.customers_a[0]}/next-best-offer", headers=auth(keys.read_a)
    )
    assert response.json()["error"]["code"] == "not_computed"


def test_bought_together_and_next_best_offer(
    client: TestClient, keys: Keys, store: SampleStore, computed: dict[str, int]
) -> None:
    mug, coffee = computed["mug"], computed["coffee"]
    response = client.get(f"/v1/products/{mug}/bought-together", headers=auth(keys.read_a))
    assert response.json()["items"][0]["product_id"] == coffee
    assert response.json()["items"][0]["name"] == "Café"
    assert "3" in response.json()["items"][0]["explanation"]
    mine = set(store.products_a) | {mug, coffee}
    for product in store.products_a:
        response = client.get(
            f"/v1/products/{product}/bought-together?k=3&lang=en", headers=auth(keys.read_a)
        )
        assert response.status_code == 200
        items = response.json()["items"]
        assert len(items) <= 3
        assert {i["product_id"] for i in items} <= mine - {product}
    for customer in store.customers_a:
        response = client.get(
            f"/v1/customers/{customer}/next-best-offer", headers=auth(keys.read_a)
        )
        assert response.status_code == 200
        assert {i["product_id"] for i in response.json()["items"]} <= mine


def test_other_brands_products_and_customers_are_404(
    client: TestClient, keys: Keys, store: SampleStore, computed: dict[str, int]
) -> None:
    for product in store.products_b:
        response = client.get(f"/v1/products/{product}/bought-together", headers=auth(keys.read_a))
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    for customer in store.customers_b:
        response = client.get(
            f"/v1/customers/{customer}/next-best-offer", headers=auth(keys.read_a)
        )
        assert response.status_code == 404
    named = client.get(
        f"/v1/products/{store.products_a[0]}/bought-together?brand_id={store.brand_b}",
        headers=auth(keys.read_a),
    )
    assert named.status_code == 404
    assert named.json()["error"]["field"] == "brand_id"


def test_the_pipelines_slug_directory_is_read_and_preferred(
    client: TestClient, keys: Keys, store: SampleStore, engine: Engine, app: FastAPI
) -> None:
    with unit_of_work(engine, write=False) as session:
        slug = session.scalar(select(Brand.slug).where(Brand.id == store.brand_a))
    assert slug
    # Brand B's tables in brand A's id directory must lose to brand A's slug directory.
    _compute(engine, app, store.brand_b, into=str(store.brand_a))
    _compute(engine, app, store.brand_a, into=slug)
    mine = set(store.products_a)
    for customer in store.customers_a:
        response = client.get(
            f"/v1/customers/{customer}/next-best-offer", headers=auth(keys.read_a)
        )
        assert response.status_code == 200
        assert {i["product_id"] for i in response.json()["items"]} <= mine
    product = store.products_a[0]
    response = client.get(f"/v1/products/{product}/bought-together", headers=auth(keys.read_a))
    assert response.status_code == 200
