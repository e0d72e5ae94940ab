"""Small hand-made stores for the segment tests (rows written with the ORM)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from recompra.db import unit_of_work
from recompra.models import Brand, BrandCustomer, Customer, Order, Return
from recompra.segments.compile import CompiledSegment
from recompra.segments.full import HubCopy

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)


def brand(session: Session, slug: str = "loja") -> int:
    """A new brand; returns its id."""
    row = Brand(slug=slug, name=slug.title())
    session.add(row)
    session.flush()
    return row.id


def customer(
    session: Session,
    brand_id: int,
    *,
    state: str | None = "SP",
    city: str | None = "São Paulo",
    birth_date: date | None = None,
    document: str | None = None,
    seen: datetime = datetime(2025, 1, 1, tzinfo=UTC),
) -> int:
    """A customer linked to ``brand_id``; returns its id."""
    row = Customer(state=state, city=city, birth_date=birth_date, document=document)
    session.add(row)
    session.flush()
    session.add(BrandCustomer(brand_id=brand_id, customer_id=row.id, first_seen_at=seen))
    session.flush()
    return row.id


_counter = iter(range(1, 10**9))


def order(
    session: Session,
    brand_id: int,
    customer_id: int,
    *,
    total_minor: int,
    at: datetime,
    status: str = "delivered",
    channel: str | None = "site",
) -> int:
    """A purchase of ``total_minor`` at ``at``; returns the order id."""
    row = Order(
        brand_id=brand_id,
        source="test",
        external_id=f"o{next(_counter)}",
        customer_id=customer_id,
        status=status,
        channel=channel,
        purchased_at=at,
        items_total_minor=total_minor,
        total_minor=total_minor,
    )
    session.add(row)
    session.flush()
    return row.id


def refund(
    session: Session, brand_id: int, order_id: int, *, amount_minor: int, at: datetime
) -> None:
    """A return of ``amount_minor`` for ``order_id``."""
    session.add(
        Return(
            brand_id=brand_id,
            source="test",
            external_id=f"r{next(_counter)}",
            order_id=order_id,
            kind="return",
            amount_minor=amount_minor,
            created_at=at,
        )
    )
    session.flush()


def members_on(engine: Engine, brand_id: int, query: CompiledSegment, path: str) -> set[int]:
    """Who a single-rule statement selects at :data:`NOW`, on the hub database (``hub``:
    the incremental path's engine) or on the DuckDB copy (``duckdb``: full evaluation)."""
    values = query.params(brand_id=brand_id, now=NOW)
    with unit_of_work(engine, write=False) as session:
        if path == "hub":
            return set(session.execute(query.statement, values).scalars())
        copy = HubCopy(brand_id)
        try:
            return copy.members_of(session.connection(), query, values)
        finally:
            copy.close()
