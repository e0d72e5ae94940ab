"""Ingest endpoints: multi-status reports, scopes, brand isolation, malformed payloads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from apitest import Keys, auth
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from dbtest import create_test_engine
from recompra.db import unit_of_work
from recompra.hub import orders as orders_module
from recompra.hub.brands import ensure_brand
from recompra.hub.importers.csv_mapping import Mapping, import_mapped_files
from recompra.hub.parsing import NO_SUCH_DATE
from recompra.hub.rules import NO_IDENTITY, UNKNOWN_STATUS
from recompra.models import CustomerIdentity, Order, Product
from samplestore import SampleStore


def _order(order_id: str, price: Any = 5890) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "purchased_at": "2024-03-01T10:00:00Z",
        "customer": {"id": "c1", "email": "nova@example.com"},
        "items": [{"product_id": "p1", "unit_price_minor": price}],
    }


def test_batch_orders_report_rejects_and_write_the_rest(
    client: TestClient, keys: Keys, store: SampleStore, engine: Engine
) -> None:
    response = client.post(
        "/v1/ingest/orders/batch",
        json={"items": [_order("n1"), _order("n2", price="abc"), _order("n3")]},
        headers=auth(keys.ingest_a),
    )
    assert response.status_code == 207, response.json()
    body = response.json()
    assert (body["entity"], body["received"], body["accepted"], body["rejected"]) == (
        "order_items",
        3,
        2,
        1,
    )
    assert body["rejects"] == [
        {
            "index": 1,
            "field": "items[0].unit_price_minor",
            "value": "abc",
            "reason": "not a whole number",
        }
    ]
    assert body["counts"]["orders"]["inserted"] == 2
    with unit_of_work(engine, write=False) as session:
        rows = session.execute(
            select(Order.id, Order.brand_id, Order.total_minor)
            .where(Order.source == "api")
            .order_by(Order.external_id)
        ).all()
    assert rows == [
        (body["ids"][0], store.brand_a, 5890),
        (body["ids"][2], store.brand_a, 5890),
    ]
    assert body["ids"][1] is None


def test_single_record_all_accepted_is_200(client: TestClient, keys: Keys) -> None:
    response = client.post(
        "/v1/ingest/customers?source=site",
        json={"id": "x1", "email": "x1@example.com", "name": "Xis"},
        headers=auth(keys.ingest_a),
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["accepted"], body["rejects"]) == (1, [])
    assert body["counts"]["customers"]["inserted"] == 1


def test_bad_values_are_rejects_but_a_wrong_shape_is_422(client: TestClient, keys: Keys) -> None:
    bad_value = client.post(
        "/v1/ingest/reviews",
        json={"review_id": "v1", "order_id": "nope", "score": 9, "created_at": "2024-01-01"},
        headers=auth(keys.ingest_a),
    )
    assert bad_value.status_code == 207
    assert [(r["field"], r["reason"]) for r in bad_value.json()["rejects"]] == [
        ("score", "must be at most 5")
    ]
    for body in ({"items": "nope"}, [1, 2], {"items": [{"unknown_key": 1}]}):
        response = client.post("/v1/ingest/events/batch", json=body, headers=auth(keys.ingest_a))
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "validation_error"


def test_ingest_needs_the_ingest_scope(client: TestClient, keys: Keys) -> None:
    response = client.post("/v1/ingest/orders", json=_order("n1"), headers=auth(keys.read_a))
    assert response.status_code == 403


def test_a_brand_key_cannot_ingest_into_another_brand(
    client: TestClient, keys: Keys, store: SampleStore
) -> None:
    response = client.post(
        f"/v1/ingest/orders?brand_id={store.brand_b}",
        json=_order("n1"),
        headers=auth(keys.ingest_a),
    )
    assert response.status_code == 404
    assert response.json()["error"]["field"] == "brand_id"


def test_returns_cannot_reference_another_brands_order(
    client: TestClient, keys: Keys, store: SampleStore, engine: Engine
) -> None:
    with unit_of_work(engine, write=False) as session:
        external = session.scalar(select(Order.external_id).where(Order.id == store.orders_b[0]))
    response = client.post(
        "/v1/ingest/returns?source=sample",
        json={
            "return_id": "r-x",
            "order_id": external,
            "amount_minor": 1,
            "created_at": "2024-03-02",
        },
        headers=auth(keys.ingest_a),
    )
    assert response.status_code == 207
    assert response.json()["rejects"][0]["reason"] == (
        f"no order {external!r} from source 'sample' in this brand"
    )


def test_batch_size_is_limited(client: TestClient, keys: Keys, app: Any) -> None:
    app.state.api_settings.max_batch = 2
    response = client.post(
        "/v1/ingest/customers/batch",
        json={"items": [{"id": str(i)} for i in range(3)]},
        headers=auth(keys.ingest_a),
    )
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "invalid_input",
        "message": "a batch holds at most 2 records (got 3)",
        "field": "items",
    }


def test_replayed_post_is_not_ingested_twice(client: TestClient, keys: Keys) -> None:
    headers = {**auth(keys.ingest_a), "Idempotency-Key": "ingest-1"}
    first = client.post("/v1/ingest/orders", json=_order("n9"), headers=headers)
    again = client.post("/v1/ingest/orders", json=_order("n9"), headers=headers)
    assert first.json() == again.json()
    assert again.headers["Idempotent-Replayed"] == "true"


def test_one_post_is_one_transaction(
    client: TestClient,
    keys: Keys,
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Fail the order writer after its first writes (customers, products, orders) when it
    # comes to the items: the request's unit of work must roll everything back.
    real = orders_module.upsert_rows
    calls: list[str] = []

    def failing(session: Any, table: Any, rows: Any, **kwargs: Any) -> Any:
        calls.append(table.name)
        if table.name == "order_items":
            raise RuntimeError("injected failure after the first writes")
        return real(session, table, rows, **kwargs)

    monkeypatch.setattr(orders_module, "upsert_rows", failing)
    batch = {"items": [_order("tx1"), _order("tx2")]}
    batch["items"][0]["customer"] = {"id": "tx-person", "email": "tx@example.com"}
    with pytest.raises(RuntimeError, match="injected"):
        client.post("/v1/ingest/orders/batch", json=batch, headers=auth(keys.ingest_a))
    assert calls == ["orders", "order_items"]
    with unit_of_work(engine, write=False) as session:
        assert session.scalars(select(Order).where(Order.external_id.like("tx%"))).all() == []
        assert session.scalars(select(Product).where(Product.external_id == "p1")).all() == []
        identity = select(CustomerIdentity).where(CustomerIdentity.value == "tx@example.com")
        assert session.scalars(identity).all() == []


def test_the_api_applies_the_hubs_value_rules(client: TestClient, keys: Keys) -> None:
    negative = _order("neg", price=-3500)
    too_much_discount = _order("disc")
    too_much_discount["items"][0]["discount_minor"] = 6000
    response = client.post(
        "/v1/ingest/orders/batch",
        json={"items": [negative, too_much_discount]},
        headers=auth(keys.ingest_a),
    )
    assert response.status_code == 207
    assert [
        (r["index"], r["field"], r["value"], r["reason"]) for r in response.json()["rejects"]
    ] == [
        (0, "items[0].unit_price_minor", "-3500", "must be at least 0"),
        (1, "items[0].discount_minor", "6000", "discount is larger than the line's amount (5890)"),
    ]


# One bad value, written as a store's file has it and as the API sends it.
SAME_RULES = [
    ({"Preço": "-35,00"}, {"unit_price_minor": -3500}, "must be at least 0"),
    ({"Qtd": "0"}, {"quantity": 0}, "must be at least 1"),
    ({"Status": "status-estranho"}, {"status": "status-estranho"}, UNKNOWN_STATUS),
    (
        {"Desconto": "60,00"},
        {"discount_minor": 6000},
        "discount is larger than the line's amount (5890)",
    ),
    ({"Data": "31/02/2026 10:00"}, {"purchased_at": "2026-02-31T10:00:00"}, NO_SUCH_DATE),
    ({"Cliente": ""}, {"customer": {}}, NO_IDENTITY),
    ({"Data": ""}, {"purchased_at": None}, "required value is missing"),
    ({"Qtd": "100001"}, {"quantity": 100_001}, "must be at most 100000"),
    ({"Preço": "10000000000,01"}, {"unit_price_minor": 10**12 + 1}, f"must be at most {10**12}"),
]


@pytest.mark.parametrize(("cells", "fields", "reason"), SAME_RULES)
def test_the_api_rejects_what_the_importer_rejects_with_the_same_reason(
    client: TestClient,
    keys: Keys,
    tmp_path: Path,
    cells: dict[str, str],
    fields: dict[str, Any],
    reason: str,
) -> None:
    row = {
        "Pedido": "1",
        "Data": "05/01/2026 10:00",
        "Cliente": "c1",
        "Produto": "p1",
        "Qtd": "1",
        "Preço": "58,90",
        "Desconto": "",
        "Status": "entregue",
        **cells,
    }
    lines = tmp_path / "lines.csv"
    lines.write_text(";".join(row) + "\n" + ";".join(row.values()) + "\n", encoding="utf-8")
    mapping = Mapping(
        source="loja",
        delimiter=";",
        decimal=",",
        date_formats=["%d/%m/%Y %H:%M"],
        columns={
            "order_id": "Pedido",
            "purchased_at": "Data",
            "customer_id": "Cliente",
            "product_id": "Produto",
            "quantity": "Qtd",
            "unit_price": "Preço",
            "discount": "Desconto",
            "status": "Status",
        },
    )
    for engine in create_test_engine("sqlite", tmp_path):
        with unit_of_work(engine) as session:
            brand_id = ensure_brand(session, "loja").id
        report = import_mapped_files(engine, mapping, [lines], brand_id=brand_id)
    assert [r.reason for r in report.rejects] == [reason]

    order = _order("api-1")
    for name, value in fields.items():
        (
            order["items"][0]
            if name in ("unit_price_minor", "quantity", "discount_minor")
            else order
        )[name] = value
    response = client.post("/v1/ingest/orders", json=order, headers=auth(keys.ingest_a))
    assert [r["reason"] for r in response.json()["rejects"]] == [reason]
