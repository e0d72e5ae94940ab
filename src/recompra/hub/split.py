"""Split the customers that several brands share into one profile per brand.

Before identities were scoped by brand (issue 20), a brand that sent an e-mail or CPF
another brand held was linked to that brand's customer row: one row, seen and edited by
both. New data can no longer do that (:func:`recompra.hub.customers.personal_identity`);
this use case repairs the rows made before. For each customer linked to two or more
brands, the brand that saw it first keeps the row and every other brand gets a copy of
its attributes, and with it everything that brand holds about the person:

* rows of tables with a ``brand_id`` (orders, reviews, events, scores, cases, ...);
* rows whose brand is their loyalty program's (accounts, referral codes, referrals) or
  their parent's (movements through their account, journey runs and uplift predictions
  through their journey, segment members through their segment, engagement rows
  through their challenge, quiz or badge);
* the identities the brand recorded (their ``source`` ends in ``@<brand id>``);
* the brand link itself.

Consents carry no brand: the person gave or withdrew them on the shared profile, which
every brand used, so each new profile gets a copy with the same source and time (the
LGPD proof) and from then on each brand's consents change on their own. Merge history
stays with the kept row. Re-running it finds nothing to split.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, Table, delete, func, insert, select, update
from sqlalchemy.orm import Session

from recompra.models import Base, BrandCustomer, Customer, CustomerIdentity, LoyaltyProgram
from recompra.models.automation import ContactConsent

_CUSTOMERS: Table = Customer.__table__  # type: ignore[assignment]
_PROGRAMS: Table = LoyaltyProgram.__table__  # type: ignore[assignment]
_CONSENTS: Table = ContactConsent.__table__  # type: ignore[assignment]
_IDENTITIES: Table = CustomerIdentity.__table__  # type: ignore[assignment]
#: Handled on their own (see the module doc) or history that stays with the kept row.
_SPECIAL = {"customers", "brand_customers", "customer_identities", "contact_consents"}
_SPECIAL |= {"customer_merges"}


@dataclass(frozen=True)
class SplitReport:
    """What one run did."""

    #: Customers that several brands shared.
    shared: int
    #: New per-brand profiles created for them.
    created: int
    #: Rows moved to a new profile, per table.
    moved: dict[str, int]


def _brand_of_row(table: Table) -> ColumnElement[int] | None:
    """The brand of a ``table`` row as SQL, or ``None`` when nothing tells it."""
    if "brand_id" in table.c:
        return table.c.brand_id
    if "program_id" in table.c:
        return (
            select(_PROGRAMS.c.brand_id)
            .where(_PROGRAMS.c.id == table.c.program_id)
            .scalar_subquery()
        )
    for column in table.c:
        for key in column.foreign_keys:
            parent = key.column.table
            if parent.name in ("customers", table.name) or not isinstance(parent, Table):
                continue
            parent_brand = _brand_of_row(parent)
            if parent_brand is None:
                continue
            return (
                select(parent_brand)
                .where(key.column == column)
                .correlate_except(parent)
                .scalar_subquery()
            )
    return None


def _customer_columns() -> list[tuple[Table, str, ColumnElement[int]]]:
    """Every (table, customer column, brand of the row) that follows its brand."""
    found: list[tuple[Table, str, ColumnElement[int]]] = []
    for table in Base.metadata.sorted_tables:
        if table.name in _SPECIAL:
            continue
        columns = [
            c.name
            for c in table.c
            if any(k.column.table.name == "customers" for k in c.foreign_keys)
        ]
        if not columns:
            continue
        brand = _brand_of_row(table)
        if brand is None:
            raise RuntimeError(f"{table.name}: no way to tell the brand of its rows")
        found.extend((table, name, brand) for name in columns)
    return found


def split_shared_customers(session: Session) -> SplitReport:
    """Give each brand its own row of every customer several brands share."""
    shared = session.execute(
        select(BrandCustomer.customer_id)
        .group_by(BrandCustomer.customer_id)
        .having(func.count() > 1)
        .order_by(BrandCustomer.customer_id)
    ).scalars()
    followers = _customer_columns()
    moved: dict[str, int] = {}
    created = 0
    shared_ids = list(shared)
    for customer_id in shared_ids:
        links = session.execute(
            select(BrandCustomer.brand_id, BrandCustomer.first_seen_at)
            .where(BrandCustomer.customer_id == customer_id)
            .order_by(BrandCustomer.first_seen_at, BrandCustomer.brand_id)
        ).all()
        # The brand that saw the person first keeps the row.
        for brand_id, first_seen_at in links[1:]:
            new_id = _copy_customer(session, customer_id)
            created += 1
            _move_link(session, brand_id, customer_id, new_id, first_seen_at)
            for table, column, brand in followers:
                result = _run(
                    session,
                    update(table)
                    .where(table.c[column] == customer_id, brand == brand_id)
                    .values({column: new_id})
                    .execution_options(synchronize_session=False),
                )
                moved[table.name] = moved.get(table.name, 0) + int(result.rowcount or 0)
            identities = _run(
                session,
                update(_IDENTITIES)
                .where(
                    _IDENTITIES.c.customer_id == customer_id,
                    _IDENTITIES.c.source.like(f"%@{brand_id}"),
                )
                .values(customer_id=new_id),
            )
            moved["customer_identities"] = moved.get("customer_identities", 0) + int(
                identities.rowcount or 0
            )
            _copy_consents(session, customer_id, new_id)
    session.flush()
    return SplitReport(len(shared_ids), created, {k: v for k, v in moved.items() if v})


def _copy_customer(session: Session, customer_id: int) -> int:
    columns = [c for c in _CUSTOMERS.c if c.name not in ("id", "merged_into_id")]
    row = session.execute(select(*columns).where(_CUSTOMERS.c.id == customer_id)).mappings().one()
    new_id: int = session.execute(
        insert(_CUSTOMERS).values(dict(row)).returning(_CUSTOMERS.c.id)
    ).scalar_one()
    return new_id


def _move_link(
    session: Session, brand_id: int, old_id: int, new_id: int, first_seen_at: datetime
) -> None:
    session.execute(
        delete(BrandCustomer).where(
            BrandCustomer.brand_id == brand_id, BrandCustomer.customer_id == old_id
        )
    )
    session.execute(
        insert(BrandCustomer).values(
            brand_id=brand_id, customer_id=new_id, first_seen_at=first_seen_at
        )
    )


def _copy_consents(session: Session, old_id: int, new_id: int) -> None:
    columns = [c for c in _CONSENTS.c if c.name not in ("id", "customer_id")]
    rows = session.execute(select(*columns).where(_CONSENTS.c.customer_id == old_id)).mappings()
    copies = [{**row, "customer_id": new_id} for row in rows]
    if copies:
        session.execute(insert(_CONSENTS), copies)


def _run(session: Session, statement: Any) -> CursorResult[Any]:
    """Execute an UPDATE; its result carries the row count."""
    return cast(CursorResult[Any], session.execute(statement))
