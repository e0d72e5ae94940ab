"""Identity resolution: one person per e-mail, document or external id; audited merges.

When one incoming record carries identities that today belong to two customers (the
e-mail of one and the CPF of another), the two are the same person: the newer customer
is merged into the older one. A merge re-points the customer's identities, orders,
reviews, events, custom properties, brand links, journey runs, messages and coupons
(:mod:`recompra.hub.merge_runs`), records exactly which rows moved and
why, and can be undone with :func:`unmerge`.

Custom properties (one row per brand, customer and name) move through
:func:`recompra.hub.properties.merge_properties`, their one write path: when both customers
have the same property, the survivor keeps the most recently updated value (on a tie, its
own); the other value stays on the merged customer, and an unmerge restores both. The
survivor never passes the brand's property limit: the merged customer's properties that do
not fit stay on it and are listed in the merge record (``customer_properties_left_out``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session

from recompra.errors import Conflict, NotFound
from recompra.hub.merge_runs import merge_runs, unmerge_runs
from recompra.hub.rejects import EntityCounts
from recompra.models import (
    BrandCustomer,
    Customer,
    CustomerIdentity,
    CustomerMerge,
    Event,
    Order,
    Review,
)
from recompra.models.automation import COUPONS, OUTBOX
from recompra.models.base import utcnow

#: Tables whose ``customer_id`` moves with a merge (name -> table).
_MOVABLE: dict[str, Table] = {
    "customer_identities": CustomerIdentity.__table__,  # type: ignore[dict-item]
    "orders": Order.__table__,  # type: ignore[dict-item]
    "reviews": Review.__table__,  # type: ignore[dict-item]
    "events": Event.__table__,  # type: ignore[dict-item]
    # Journeys' messages and coupons: the survivor's caps count the person's messages
    # from both profiles (runs: merge_runs, which has the unique key to mind).
    "automation_outbox": OUTBOX,
    "automation_coupons": COUPONS,
}


def resolve(session: Session, customer_id: int) -> int:
    """Follow merges to the surviving customer id."""
    seen: set[int] = set()
    current = customer_id
    while True:
        merged_into = session.scalar(select(Customer.merged_into_id).where(Customer.id == current))
        if merged_into is None or current in seen:
            return current
        seen.add(current)
        current = merged_into


#: The import report's entity that counts what merges did with the merged customers'
#: custom properties (:func:`recompra.hub.properties.merged_property_counts`).
MERGED_PROPERTIES = "merged_properties"


@dataclass(frozen=True)
class Merged:
    """A merge's record id and what it did with the merged customer's properties."""

    merge_id: int
    properties: EntityCounts


def merge_customers(
    session: Session, *, brand_id: int, survivor_id: int, merged_id: int, reason: str
) -> Merged:
    """Merge ``merged_id`` into ``survivor_id`` for ``brand_id``: the merge record's id, and
    the counts of the merged customer's properties (``rejected``: left out by the limit).

    A merge is the brand's decision about its own profiles: both customers must belong to
    ``brand_id`` alone, so no brand's record can ever join (or move rows of) a profile
    another brand sees.
    """
    if survivor_id == merged_id:
        raise Conflict("a customer cannot be merged into itself", field="merged_id")
    for cid in (survivor_id, merged_id):
        if session.get(Customer, cid) is None:
            raise NotFound(f"customer {cid} does not exist")
    foreign = shared_with_other_brands(session, brand_id, {survivor_id, merged_id})
    if foreign:
        raise Conflict(
            f"customers {sorted(foreign)} are seen by another brand; brand {brand_id} "
            "cannot merge them",
            field="merged_id",
        )
    # Imported here: properties checks brand links through hub.customers, which merges
    # through this module, so a module-level import would be a cycle.
    from recompra.hub.properties import lock_customers, merge_properties, merged_property_counts

    # Both customers first, lower id first, as every writer of their properties locks
    # them before their rows: a journey writing the merged customer's properties now
    # finishes first (or waits), instead of one of the two being aborted as a deadlock.
    lock_customers(session, [survivor_id, merged_id])
    moved: dict[str, Any] = {}
    for name, table in _MOVABLE.items():
        row_ids = list(session.scalars(select(table.c.id).where(table.c.customer_id == merged_id)))
        if row_ids:
            session.execute(
                update(table).where(table.c.id.in_(row_ids)).values(customer_id=survivor_id)
            )
        moved[name] = row_ids
    # Brand links: add the survivor to each brand the merged customer had (once).
    survivor_brands = set(
        session.scalars(
            select(BrandCustomer.brand_id).where(BrandCustomer.customer_id == survivor_id)
        )
    )
    added_brands = []
    for link in session.scalars(
        select(BrandCustomer).where(BrandCustomer.customer_id == merged_id)
    ):
        if link.brand_id not in survivor_brands:
            session.add(
                BrandCustomer(
                    brand_id=link.brand_id,
                    customer_id=survivor_id,
                    first_seen_at=link.first_seen_at,
                )
            )
            added_brands.append(link.brand_id)
    moved["brand_links_added"] = added_brands
    moved.update(merge_runs(session, survivor_id=survivor_id, merged_id=merged_id, now=utcnow()))
    moved.update(merge_properties(session, survivor_id=survivor_id, merged_id=merged_id))
    session.execute(
        update(Customer).where(Customer.id == merged_id).values(merged_into_id=survivor_id)
    )
    merge = CustomerMerge(survivor_id=survivor_id, merged_id=merged_id, reason=reason, moved=moved)
    session.add(merge)
    session.flush()
    return Merged(merge.id, merged_property_counts(moved))


def shared_with_other_brands(session: Session, brand_id: int, customer_ids: set[int]) -> set[int]:
    """Those of ``customer_ids`` that a brand other than ``brand_id`` is linked to."""
    return set(
        session.scalars(
            select(BrandCustomer.customer_id).where(
                BrandCustomer.customer_id.in_(customer_ids), BrandCustomer.brand_id != brand_id
            )
        )
    )


def unmerge(session: Session, *, merge_id: int) -> None:
    """Undo a merge: move back exactly the rows it moved and revive the merged customer."""
    merge = session.get(CustomerMerge, merge_id)
    if merge is None:
        raise NotFound(f"merge {merge_id} does not exist")
    if merge.undone_at is not None:
        raise Conflict(f"merge {merge_id} was already undone")
    from recompra.hub.properties import lock_customers, unmerge_properties  # a cycle

    lock_customers(session, [merge.survivor_id, merge.merged_id])  # as merge_customers
    for name, table in _MOVABLE.items():
        row_ids = merge.moved.get(name, [])
        if row_ids:
            session.execute(
                update(table).where(table.c.id.in_(row_ids)).values(customer_id=merge.merged_id)
            )
    for brand_id in merge.moved.get("brand_links_added", []):
        link = session.get(BrandCustomer, (brand_id, merge.survivor_id))
        if link is not None:
            session.delete(link)
    unmerge_properties(session, merge=merge)
    unmerge_runs(session, merge=merge)
    session.execute(
        update(Customer).where(Customer.id == merge.merged_id).values(merged_into_id=None)
    )
    merge.undone_at = utcnow()
    session.flush()
