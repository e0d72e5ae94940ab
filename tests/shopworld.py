"""The shopper tests' helpers: a brand with a loyalty program and customers who have an
e-mail identity, and the sign-in link a shopper was mailed (read from the outbox)."""

from __future__ import annotations

import itertools
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, select

from recompra.db import unit_of_work
from recompra.hub.customers import personal_identity
from recompra.loyalty import create_program, publish_rules
from recompra.models import Brand, BrandCustomer, Customer, CustomerIdentity
from recompra.models.automation import OutboxMessage

_seq = itertools.count(1)
#: The page path of a sign-in link in an e-mail's text.
LINK = re.compile(r"(/shop/[^/\s]+/sign-in/[A-Za-z0-9_\-:.]+)")


def mailed_link(engine: Engine, customer_id: int) -> str:
    """The path of the newest sign-in link in the customer's outbox e-mails."""
    with unit_of_work(engine, write=False) as s:
        payload = s.scalars(
            select(OutboxMessage.payload)
            .where(
                OutboxMessage.customer_id == customer_id,
                OutboxMessage.execution_key.like("shopper:sign-in:%"),
            )
            .order_by(OutboxMessage.id.desc())
        ).first()
    assert payload is not None
    found = LINK.search(payload["text"])
    assert found is not None
    return found.group(1)


@dataclass
class Shop:
    """A brand with a loyalty program, and a way to add its customers."""

    engine: Engine
    brand_id: int
    slug: str
    program_id: int

    def customer(self, name: str = "Ana Souza", *, locale: str = "pt-BR") -> tuple[int, str]:
        """A customer of the brand with an e-mail identity: (id, e-mail)."""
        email = f"c{next(_seq)}-{uuid.uuid4().hex[:6]}@example.com"
        with unit_of_work(self.engine) as s:
            customer = Customer(name=name, email=email, locale=locale)
            s.add(customer)
            s.flush()
            kind, source, value = personal_identity(self.brand_id, "email", email)
            s.add(CustomerIdentity(customer_id=customer.id, kind=kind, source=source, value=value))
            s.add(BrandCustomer(brand_id=self.brand_id, customer_id=customer.id))
            return customer.id, email


def new_shop(engine: Engine, *, name: str = "Loja") -> Shop:
    """A brand named ``name`` with a program (1 point per real, usable at once)."""
    n = next(_seq)
    with unit_of_work(engine) as s:
        brand = Brand(slug=f"loja{n}-{uuid.uuid4().hex[:4]}", name=f"{name} {n}")
        s.add(brand)
        s.flush()
        program = create_program(s, brand_id=brand.id, name="Clube", return_window_days=0)
        publish_rules(
            s,
            program_id=program.id,
            rules=[{"type": "base", "points_per_unit": 1}],
            effective_from=datetime(2000, 1, 1, tzinfo=UTC),
        )
        return Shop(engine, brand.id, brand.slug, program.id)
