"""A brand with a loyalty program and customers who have an e-mail identity (the shopper
tests' factory)."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine

from recompra.db import unit_of_work
from recompra.hub.customers import personal_identity
from recompra.loyalty import create_program, publish_rules
from recompra.models import Brand, BrandCustomer, Customer, CustomerIdentity

_seq = itertools.count(1)


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
