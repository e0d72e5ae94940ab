"""Custom properties of a brand's customers: the brand's own facts about a customer
(``plan: "gold"``, ``pets: 2``, ``newsletter: true``, ``anniversary: "2019-05-04"``).

They are customer data like orders and events, written by the store (the API) and by
journeys (the ``update_property`` node), and read by message templates, journey waits
and conditions: so they live in the hub, below every domain that reads them, and this
module is their one write path. A value is text (at most :data:`MAX_TEXT` characters;
a date is ISO text), a whole number or true/false; one row per brand, customer and name,
the value in the column of its type (:func:`typed_columns`).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from recompra.db.dialect import in_values, insert_ignoring_conflicts
from recompra.errors import InvalidInput
from recompra.hub.customers import require_brand_customer
from recompra.models import CustomerProperty
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
    value counts as 0); returns the new value. The row is locked while it changes."""
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
    for name, value in values.items():
        if not (value is None and not replace):
            check_value(name, value)
    before = customer_properties(session, brand_id=brand_id, customer_id=customer_id)
    kept = {} if replace else before
    after = {k: v for k, v in {**kept, **values}.items() if v is not None}
    if len(after) > MAX_PROPERTIES:
        raise InvalidInput(f"at most {MAX_PROPERTIES} properties per customer", field="properties")
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
            set_property(
                session, brand_id=brand_id, customer_id=customer_id, name=name, value=value, now=now
            )
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
