"""Custom properties of a brand's customers: the brand's own facts about a customer
(``plan: "gold"``, ``pets: 2``, ``newsletter: true``, ``anniversary: "2019-05-04"``).

They are customer data like orders and events, written by the store (the API) and by
journeys (the ``update_property`` node), and read by message templates, journey waits
and conditions: so they live in the hub, below every domain that reads them, and this
module is their one write path. A value is text (at most :data:`MAX_TEXT` characters;
a date is ISO text), a whole number or true/false; one row per brand, customer and name,
the value in the column of its type (:func:`typed_columns`).

A customer holds at most :data:`MAX_PROPERTIES` properties for a brand, whichever way they
arrive (the API, a journey, a merge of two customers): :func:`fit_new_properties` is the one
rule, and every writer first locks the customer's row (:func:`lock_customer`), so the limit
holds when two writers race. Names the customer already holds always fit (only their value
changes); new names fill the free places, the most recently updated first. An API request
that does not fit is refused whole; a journey's new property that does not fit is not
written (the journey records why); a merge leaves the merged customer's properties that do
not fit where they are and records them.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from recompra.db.dialect import in_values, insert_ignoring_conflicts, is_sqlite
from recompra.errors import InvalidInput
from recompra.hub.customers import require_brand_customer
from recompra.hub.rejects import EntityCounts
from recompra.models import Customer, CustomerMerge, CustomerProperty
from recompra.models.customer import PROPERTIES

#: A property name: lower-case letters, digits, ``_`` or ``-``, at most 64.
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
MAX_TEXT = 500
#: Properties one customer may have for a brand (a request cannot grow a row set unbounded).
MAX_PROPERTIES = 100


@dataclass(frozen=True)
class PropertiesWritten:
    """A write's outcome: the customer's properties after it, the names it changed (what
    live segments re-evaluate on)."""

    properties: dict[str, Any]
    changed: frozenset[str]


@dataclass(frozen=True)
class Fitted:
    """Which offered property names a customer can take (``kept``) and which not."""

    kept: frozenset[str]
    left_out: frozenset[str]


def fit_new_properties(held: Collection[str], offered: Mapping[str, datetime]) -> Fitted:
    """The names of ``offered`` (name -> when its value was set) that a customer holding
    ``held`` can take within :data:`MAX_PROPERTIES`.

    A held name always fits; new names fill the free places, the most recently updated
    first (by name on a tie, so the outcome does not depend on the order given).
    """
    held_names = set(held)
    new = sorted(
        (n for n in offered if n not in held_names), key=lambda n: (-offered[n].timestamp(), n)
    )
    free = max(MAX_PROPERTIES - len(held_names), 0)
    return Fitted(
        kept=frozenset(n for n in offered if n in held_names) | frozenset(new[:free]),
        left_out=frozenset(new[free:]),
    )


def valid_name(name: object) -> bool:
    """Whether ``name`` can name a property."""
    return isinstance(name, str) and NAME_PATTERN.match(name) is not None


def check_value(name: str, value: object) -> None:
    """Refuse a value a property cannot hold (:class:`InvalidInput` naming the field)."""
    if not valid_name(name):
        raise InvalidInput(
            f"property name {name!r}: lower-case letters, digits, _ or -, at most 64",
            field=f"properties.{name}",
        )
    if isinstance(value, bool | int):
        return
    if isinstance(value, str) and len(value) <= MAX_TEXT:
        return
    raise InvalidInput(
        f"property {name!r}: text (at most {MAX_TEXT} characters), a whole number or true/false",
        field=f"properties.{name}",
    )


def typed_columns(value: Any) -> dict[str, Any]:
    """The row's value columns for ``value``: the one of its type set, the others null."""
    return {
        "text_value": value if isinstance(value, str) else None,
        "number_value": value if isinstance(value, int) and not isinstance(value, bool) else None,
        "flag_value": value if isinstance(value, bool) else None,
    }


def stored_value(text: str | None, number: int | None, flag: bool | None) -> Any:
    """The value held by a row's typed columns (``None`` when erased)."""
    if flag is not None:
        return flag
    return number if number is not None else text


def lock_customer(session: Session, customer_id: int) -> None:
    """Lock the customer's row until the transaction ends: every writer of a customer's
    properties takes it before counting them, so two writers that would each add one to
    99 run one after the other and the second sees 100 (PostgreSQL; SQLite's writers are
    serialised from ``BEGIN IMMEDIATE``: no statement there). The same row lock as a live
    segment re-evaluation's (``segments.service``), taken first."""
    lock_customers(session, [customer_id])


def lock_customers(session: Session, customer_ids: Collection[int]) -> set[int]:
    """:func:`lock_customer` for several customers, the lower id first: a writer of two
    customers' properties (a merge) and another of either take the rows in one order, so
    neither holds one while waiting for the other's (PostgreSQL aborted one of them).

    One statement: PostgreSQL locks the rows as the sort hands them over, in id order.
    ``FOR NO KEY UPDATE``: it excludes every other writer of the customer (this lock, a
    segment re-evaluation's ``FOR UPDATE``, an update of the row) but not an insert of a
    row that merely references the customer (an order, a message: a key-share lock),
    which need not wait for a decision batch holding the customer.
    Returns those of them merged into another customer, as read once locked (a merge that
    committed while this waited is seen); SQLite: none, nothing changes under its
    serialised writer, and no statement is sent.
    """
    if is_sqlite(session) or not customer_ids:
        return set()  # serialised already: the statement would lock nothing
    return {
        customer_id
        for customer_id, merged_into in session.execute(
            select(Customer.id, Customer.merged_into_id)
            .where(in_values(session, Customer.id, set(customer_ids)))
            .order_by(Customer.id)
            .with_for_update(key_share=True)
        )
        if merged_into is not None
    }


def set_property(
    session: Session,
    *,
    brand_id: int,
    customer_id: int,
    name: str,
    now: datetime,
    value: Any = None,
    increment: int | None = None,
) -> Any:
    """Set ``name`` to ``value``, or add ``increment`` to it (a missing or non-numeric
    value counts as 0); returns the new value, or ``None`` when ``name`` is new and the
    customer already holds :data:`MAX_PROPERTIES` (nothing is written: a journey never
    pushes a customer past the limit). The row is locked while it changes."""
    lock_customer(session, customer_id)
    held = session.scalars(
        select(CustomerProperty.name).where(
            CustomerProperty.brand_id == brand_id, CustomerProperty.customer_id == customer_id
        )
    ).all()
    if name in fit_new_properties(held, {name: now}).left_out:
        return None
    return _write_value(session, (brand_id, customer_id, name), now, value, increment)


def _write_value(
    session: Session,
    row: tuple[int, int, str],
    now: datetime,
    value: Any,
    increment: int | None,
) -> Any:
    """:func:`set_property` once the limit is checked; ``row`` is (brand, customer, name)."""
    brand_id, customer_id, name = row
    statement = insert_ignoring_conflicts(
        session, PROPERTIES, index_elements=("brand_id", "customer_id", "name")
    )
    initial = value if increment is None else 0
    key = {"brand_id": brand_id, "customer_id": customer_id, "name": name}
    session.execute(statement, {**key, **typed_columns(initial), "updated_at": now})
    # Locks the row: two increments of one property apply one after the other.
    current = session.scalar(
        select(CustomerProperty.number_value)
        .where(*(getattr(CustomerProperty, k) == v for k, v in key.items()))
        .with_for_update()
    )
    if increment is not None:
        value = (current or 0) + increment
    session.execute(
        update(CustomerProperty)
        .where(*(getattr(CustomerProperty, k) == v for k, v in key.items()))
        .values(**typed_columns(value), updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return value


def write_properties(
    session: Session,
    *,
    brand_id: int,
    customer_id: int,
    values: Mapping[str, Any],
    replace: bool,
    now: datetime,
) -> PropertiesWritten:
    """Validate and write ``values`` (all or nothing): the customer's properties after,
    and the names whose value changed.

    ``replace`` (HTTP PUT): the customer's properties become exactly ``values``. Otherwise
    (PATCH) the named ones change and a ``None`` value removes one; the rest stay.
    """
    require_brand_customer(session, brand_id=brand_id, customer_id=customer_id)
    lock_customer(session, customer_id)
    for name, value in values.items():
        if not (value is None and not replace):
            check_value(name, value)
    before = customer_properties(session, brand_id=brand_id, customer_id=customer_id)
    kept = {} if replace else {k: v for k, v in before.items() if values.get(k, v) is not None}
    offered = {name: now for name, value in values.items() if value is not None}
    if fit_new_properties(kept, offered).left_out:
        raise InvalidInput(f"at most {MAX_PROPERTIES} properties per customer", field="properties")
    after = {k: v for k, v in {**kept, **values}.items() if v is not None}
    scope = (CustomerProperty.brand_id == brand_id, CustomerProperty.customer_id == customer_id)
    if replace:
        stale = CustomerProperty.name.not_in(list(values))
    else:
        stale = CustomerProperty.name.in_([n for n, v in values.items() if v is None])
    session.execute(
        delete(CustomerProperty).where(*scope, stale).execution_options(synchronize_session=False)
    )
    for name, value in values.items():
        if value is not None:
            _write_value(session, (brand_id, customer_id, name), now, value, None)
    changed = {n for n in {*before, *after} if not _same(before.get(n), after.get(n))}
    return PropertiesWritten(after, frozenset(changed))


def _same(a: Any, b: Any) -> bool:
    """Equal values of the same type (``1`` and ``True`` are different properties)."""
    return type(a) is type(b) and a == b


def customer_properties(session: Session, *, brand_id: int, customer_id: int) -> dict[str, Any]:
    """The customer's custom properties for the brand."""
    return properties_of(session, brand_id=brand_id, customer_ids=[customer_id]).get(
        customer_id, {}
    )


def properties_of(
    session: Session, *, brand_id: int, customer_ids: Collection[int]
) -> dict[int, dict[str, Any]]:
    """The custom properties of many customers of the brand (one statement), by customer."""
    found: dict[int, dict[str, Any]] = {}
    for customer_id, name, text, number, flag in session.execute(
        select(
            CustomerProperty.customer_id,
            CustomerProperty.name,
            CustomerProperty.text_value,
            CustomerProperty.number_value,
            CustomerProperty.flag_value,
        ).where(
            CustomerProperty.brand_id == brand_id,
            in_values(session, CustomerProperty.customer_id, customer_ids),
        )
    ):
        found.setdefault(customer_id, {})[name] = stored_value(text, number, flag)
    return found


#: The columns that hold a property's value (what a clash replaces, with ``updated_at``).
_PROPERTY_VALUE = ("text_value", "number_value", "flag_value")


def merge_properties(session: Session, *, survivor_id: int, merged_id: int) -> dict[str, Any]:
    """Give the survivor the merged customer's custom properties; what moved, for unmerge.

    A property both have keeps the most recently updated value in the survivor's row (the
    unique brand, customer and name allows one row): the survivor's previous value is
    recorded so that :func:`unmerge_properties` can put it back; the merged customer's row
    stays where it is. A property only the merged customer has moves (its row re-pointed)
    if it fits the survivor's limit (:func:`fit_new_properties`); one that does not stays
    on the merged customer and is recorded under ``customer_properties_left_out``.
    """
    lock_customers(session, [survivor_id, merged_id])
    survivor_rows = {
        (row.brand_id, row.name): row
        for row in session.scalars(
            select(CustomerProperty).where(CustomerProperty.customer_id == survivor_id)
        )
    }
    merged_rows = session.scalars(
        select(CustomerProperty)
        .where(CustomerProperty.customer_id == merged_id)
        .order_by(CustomerProperty.id)
    ).all()
    left_out: set[int] = set()
    for brand_id in {row.brand_id for row in merged_rows}:
        of_brand = [row for row in merged_rows if row.brand_id == brand_id]
        held = [name for brand, name in survivor_rows if brand == brand_id]
        fitted = fit_new_properties(held, {row.name: row.updated_at for row in of_brand})
        left_out.update(row.id for row in of_brand if row.name in fitted.left_out)
    moved_ids: list[int] = []
    replaced: list[dict[str, Any]] = []
    outvoted: list[int] = []
    for row in merged_rows:
        kept = survivor_rows.get((row.brand_id, row.name))
        if row.id in left_out:
            continue
        if kept is None:
            row.customer_id = survivor_id
            moved_ids.append(row.id)
        elif row.updated_at > kept.updated_at:
            # The merge record is JSON: the time goes in as ISO text.
            previous = {column: getattr(kept, column) for column in _PROPERTY_VALUE}
            replaced.append({"id": kept.id, "updated_at": kept.updated_at.isoformat(), **previous})
            for column in (*_PROPERTY_VALUE, "updated_at"):
                setattr(kept, column, getattr(row, column))
        else:
            outvoted.append(row.id)
    session.flush()
    return {
        "customer_properties": moved_ids,
        "customer_properties_replaced": replaced,
        "customer_properties_outvoted": outvoted,
        "customer_properties_left_out": sorted(left_out),
    }


def merged_property_counts(moved: Mapping[str, Any]) -> EntityCounts:
    """What a merge (its record's ``moved``) did with the merged customer's properties:
    ``inserted`` moved to the survivor, ``updated`` replaced the survivor's older value,
    ``unchanged`` lost to the survivor's newer value, ``rejected`` left out by the limit."""
    inserted = len(moved.get("customer_properties", []))
    updated = len(moved.get("customer_properties_replaced", []))
    unchanged = len(moved.get("customer_properties_outvoted", []))
    rejected = len(moved.get("customer_properties_left_out", []))
    return EntityCounts(
        read=inserted + updated + unchanged + rejected,
        inserted=inserted,
        updated=updated,
        unchanged=unchanged,
        rejected=rejected,
    )


def unmerge_properties(session: Session, *, merge: CustomerMerge) -> None:
    """Undo :func:`merge_properties`: move the moved rows back, restore replaced values.

    The rows left out never moved: the revived merged customer has them already.
    """
    lock_customers(session, [merge.survivor_id, merge.merged_id])
    moved_ids = merge.moved.get("customer_properties", [])
    if moved_ids:
        session.execute(
            update(CustomerProperty)
            .where(CustomerProperty.id.in_(moved_ids))
            .values(customer_id=merge.merged_id)
        )
    for previous in merge.moved.get("customer_properties_replaced", []):
        row = session.get(CustomerProperty, previous["id"])
        if row is None:
            continue  # deleted since the merge: nothing to restore
        for column in _PROPERTY_VALUE:
            setattr(row, column, previous[column])
        row.updated_at = datetime.fromisoformat(previous["updated_at"])
