"""Shared set-up of the B2B and coalition tests: brand customers and company accounts."""

from __future__ import annotations

from datetime import timedelta

from recompra.db import unit_of_work
from recompra.hub.accounts import add_buyer, create_account
from recompra.models import BrandCustomer

from .conftest import T0, World

#: The moment the tests act at: one day after their orders (windows are 0 days).
NOW = T0 + timedelta(days=1)


def brand_customer(world: World, brand_id: int) -> int:
    """A new customer known to the brand (what the hub's import records)."""
    customer_id = world.customer()
    with unit_of_work(world.engine) as s:
        s.add(BrandCustomer(brand_id=brand_id, customer_id=customer_id, first_seen_at=T0))
    return customer_id


def company(
    world: World, brand_id: int, roles: list[str], **benefits: object
) -> tuple[int, list[int]]:
    """A company account of the brand with one new member per role: (account, members)."""
    members = [brand_customer(world, brand_id) for _ in roles]
    with unit_of_work(world.engine) as s:
        account = create_account(s, brand_id=brand_id, name=f"ACME {members[0]}", **benefits)  # type: ignore[arg-type]
        for customer_id, role in zip(members, roles, strict=True):
            add_buyer(
                s, brand_id=brand_id, account_id=account.id, customer_id=customer_id, role=role
            )
        return account.id, members
