"""The sample store with one fully identified customer, for the privacy tests.

The customer has an e-mail, a CPF, a phone, identities, orders with loyalty points, a
review whose comment quotes the e-mail, an event payload with the e-mail, an analysed
snapshot and outputs, a stored message and an API response body mentioning the e-mail,
so that an erasure has personal data to find in every place the product keeps it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

from sqlalchemy import Engine, select

from recompra.automation.sink import SINK_FOLDER
from recompra.db import unit_of_work
from recompra.loyalty import create_program, publish_rules
from recompra.loyalty.operations.earn import earn_for_order
from recompra.models import (
    ApiKey,
    BrandCustomer,
    Customer,
    CustomerIdentity,
    Event,
    IdempotencyRecord,
    Order,
    Review,
)
from samplestore import analyse_sample, seed_sample

EMAIL = "Maria.Erasable@Example.com"
CPF = "52998224725"
CPF_PRINTED = "529.982.247-25"
PHONE = "11987654321"
NAME = "Maria Erasable Souza"


@dataclass(frozen=True)
class Identified:
    """The engine, data directory, brands and the identified customer's id."""

    engine: Engine
    home: Path
    brand_a: int
    brand_b: int
    customer_id: int


def identify(engine: Engine, home: Path) -> Identified:
    """Seed the sample store and give one brand-A-only customer every kind of data."""
    now = datetime.now(UTC)
    with unit_of_work(engine) as session:
        store = seed_sample(session)
        shared = store.shared_customer
        customer_id = next(c for c in store.customers_a if c != shared)
        customer = session.get(Customer, customer_id)
        assert customer is not None
        customer.name, customer.email, customer.document, customer.phone = (
            NAME,
            EMAIL,
            CPF,
            PHONE,
        )
        for kind, value in (("email", EMAIL.lower()), ("cpf", CPF), ("phone", PHONE)):
            session.add(CustomerIdentity(customer_id=customer_id, kind=kind, value=value))
        order = (
            session.execute(
                select(Order).where(Order.customer_id == customer_id, Order.status == "delivered")
            )
            .scalars()
            .first()
        )
        assert order is not None
        session.add(
            Review(
                brand_id=store.brand_a,
                source="test",
                external_id=f"privacy-{customer_id}",
                order_id=order.id,
                customer_id=customer_id,
                score=2,
                title="Atraso",
                comment=f"Escrevam para {EMAIL} ou CPF {CPF_PRINTED}",
                created_at=now,
            )
        )
        session.add(
            Event(
                brand_id=store.brand_a,
                customer_id=customer_id,
                type="page_view",
                occurred_at=now,
                payload={"email": EMAIL, "phone": PHONE},
            )
        )
        program = create_program(session, brand_id=store.brand_a, name="Clube")
        publish_rules(
            session,
            program_id=program.id,
            rules=[{"type": "base", "points_per_unit": 1}],
            effective_from=datetime(2000, 1, 1, tzinfo=UTC),
        )
        orders = session.execute(
            select(Order.id).where(Order.brand_id == store.brand_a, Order.status == "delivered")
        ).scalars()
        for order_id in orders:
            earn_for_order(session, program_id=program.id, order_id=order_id, now=now)
        key = ApiKey(name="t", prefix="privtest", key_hash="0" * 64, scopes="read")
        session.add(key)
        session.flush()
        session.add(
            IdempotencyRecord(
                api_key_id=key.id,
                idempotency_key="k1",
                request_hash="0" * 64,
                status_code=200,
                body={"customer": {"email": EMAIL, "document": CPF}},
            )
        )
        assert session.get(BrandCustomer, (store.brand_a, customer_id)) is not None
    analyse_sample(engine, home, brand_id=store.brand_a)
    mail = EmailMessage()
    mail["To"], mail["From"], mail["Subject"] = EMAIL, "loja@example.com", "Obrigado"
    mail.set_content(f"Olá {NAME}")
    (home / SINK_FOLDER).mkdir(parents=True, exist_ok=True)
    (home / SINK_FOLDER / "1-abc.eml").write_bytes(bytes(mail))
    return Identified(engine, home, store.brand_a, store.brand_b, customer_id)
