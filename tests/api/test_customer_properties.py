"""Custom customer properties through the API: brand scoped, validated, audited, and
read by message templates (the hub's store, one write path with the journeys' node)."""

from __future__ import annotations

from apitest import Keys, auth
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from recompra.automation.messages import compile_template, message_context
from recompra.db import unit_of_work
from recompra.models import AuditEntry
from recompra.models.base import utcnow
from samplestore import SampleStore


def _only_a(store: SampleStore) -> int:
    """A customer of brand A alone (the shared one is brand B's too)."""
    return next(c for c in store.customers_a if c != store.shared_customer)


def _url(customer: int) -> str:
    return f"/v1/customers/{customer}/properties"


def test_properties_are_written_read_audited_and_reach_templates(
    client: TestClient, engine: Engine, keys: Keys, store: SampleStore
) -> None:
    customer = _only_a(store)
    ingest, read = auth(keys.ingest_a), auth(keys.read_a)
    body = {"properties": {"plan": "ouro", "pets": 2, "newsletter": True, "since": "2019-05-04"}}
    put = client.put(_url(customer), json=body, headers=ingest)
    assert put.status_code == 200, put.text
    assert put.json() == body
    patch = client.patch(
        _url(customer), json={"properties": {"pets": 3, "newsletter": None}}, headers=ingest
    )
    expected = {"plan": "ouro", "pets": 3, "since": "2019-05-04"}
    assert patch.json() == {"properties": expected}
    assert client.get(_url(customer), headers=read).json() == {"properties": expected}
    # PUT replaces: what it does not name is removed.
    client.put(_url(customer), json={"properties": {"plan": "prata"}}, headers=ingest)
    assert client.get(_url(customer), headers=read).json() == {"properties": {"plan": "prata"}}

    with unit_of_work(engine, write=False) as session:
        actions = list(
            session.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.target.startswith(f"customer_id:{customer} "))
                .order_by(AuditEntry.id)
            )
        )
        context = message_context(
            session,
            brand_id=store.brand_a,
            customer_id=customer,
            order_id=None,
            recommendations_root=None,
            now=utcnow(),
        )
    assert actions == [
        "customer.properties_replace",
        "customer.properties_update",
        "customer.properties_replace",
    ]
    template = compile_template(
        "t", {"pt-BR": {"subject": "Plano {{ properties.plan }}", "text": "", "html": ""}}
    )
    assert template.render("pt-BR", {**context, "unsubscribe_url": ""}).subject == "Plano prata"


def test_properties_are_brand_scoped_and_validated(
    client: TestClient, keys: Keys, store: SampleStore
) -> None:
    customer = _only_a(store)
    ingest = auth(keys.ingest_a)
    # Another brand's customer, or this one read by another brand's key: not found.
    other = client.put(_url(store.customers_b[0]), json={"properties": {"a": 1}}, headers=ingest)
    assert other.status_code == 404
    assert client.get(_url(customer), headers=auth(keys.read_b)).status_code == 404
    assert (
        client.put(_url(customer), json={"properties": {}}, headers=auth(keys.read_a)).status_code
        == 403
    )
    for bad, field in (
        ({"Plano": "x"}, "properties.Plano"),
        ({"score": 1.5}, "properties.score"),
        ({"tags": ["a"]}, "properties.tags"),
        ({"note": "x" * 501}, "properties.note"),
    ):
        response = client.patch(_url(customer), json={"properties": bad}, headers=ingest)
        assert response.status_code == 400, bad
        assert response.json()["error"]["field"] == field
    # A refused request changes nothing (all or nothing).
    mixed = client.put(_url(customer), json={"properties": {"ok": 1, "bad": 0.5}}, headers=ingest)
    assert mixed.status_code == 400
    got = client.get(_url(customer), headers=auth(keys.read_a)).json()
    assert got == {"properties": {}}
