"""Journey nodes that change what a brand knows of a customer: a coupon given to the run,
and a wait until a date property.

* **Coupons.** A ``coupon`` node takes one free code of a pool the brand loaded
  (:func:`load_pool`; ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so concurrent workers
  never take the same code) or generates one, and writes its execution key on the code.
  The key is unique: one code per run and node, and a decision replayed after a crash
  (its batch rolled back) gives none twice. The message of a later ``send`` shows the
  run's latest coupon (``coupon.code``, ``coupon.expires_at``).
* **Properties** are the hub's (:mod:`recompra.hub.properties`, their one write path):
  the ``update_property`` node sets or increments one, a wait reads a date property.
* **Waiting until a date**: the customer's ``birth_date`` (its next anniversary), the
  run's order dates, or a custom date property, moved by ``offset_days`` and taken at
  ``at`` local time in the journey's time zone.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from recompra.automation.definition import parse_clock, parse_duration
from recompra.db.dialect import insert_ignoring_conflicts
from recompra.errors import Conflict
from recompra.hub.properties import customer_properties
from recompra.loyalty.rewards.catalog import new_coupon_code
from recompra.models import Customer, Order
from recompra.models.automation import COUPONS, Coupon
from recompra.segments.property_rules import property_name

GENERATED_POOL = "generated"
#: Order dates a wait may aim at (keyed runs: the run's order; else the latest order).
ORDER_DATES = ("purchased_at", "estimated_delivery_at", "delivered_at", "shipped_at")
#: Draws of a generated code before giving up (a collision is about 1 in 2**59).
CODE_ATTEMPTS = 5


def load_pool(
    session: Session,
    *,
    brand_id: int,
    pool: str,
    codes: list[str],
    expires_at: datetime | None,
    now: datetime,
) -> int:
    """Add ``codes`` to the brand's ``pool`` (a code already loaded is skipped); returns
    how many were added."""
    added = 0
    statement = insert_ignoring_conflicts(
        session, COUPONS, index_elements=("brand_id", "code"), returning="id"
    )
    for code in dict.fromkeys(c.strip() for c in codes if c.strip()):
        row = {"brand_id": brand_id, "pool": pool, "code": code, "expires_at": expires_at}
        added += session.execute(statement, {**row, "created_at": now}).scalar() is not None
    return added


def give_coupon(
    session: Session,
    *,
    brand_id: int,
    run_id: int | None,
    customer_id: int,
    execution_key: str,
    node: dict[str, Any],
    now: datetime,
) -> Coupon | None:
    """The run's coupon for this node: already given, taken from the pool, or generated;
    ``None`` when the pool has no valid free code left."""
    given = session.scalar(select(Coupon).where(Coupon.execution_key == execution_key))
    if given is not None:
        return given
    valid_for = node.get("valid_for")
    expires_at = now + parse_duration(valid_for) if valid_for else None
    assignment = {
        "execution_key": execution_key,
        "run_id": run_id,
        "customer_id": customer_id,
        "assigned_at": now,
    }
    if node["pool"] == GENERATED_POOL:
        statement = insert_ignoring_conflicts(
            session, COUPONS, index_elements=("brand_id", "code"), returning="id"
        )
        for _ in range(CODE_ATTEMPTS):
            code = f"{node.get('prefix', '')}{new_coupon_code()}"
            values = {"brand_id": brand_id, "pool": GENERATED_POOL, "code": code}
            row = {**values, "expires_at": expires_at, "created_at": now, **assignment}
            if session.execute(statement, row).scalar() is not None:
                return session.scalar(select(Coupon).where(Coupon.execution_key == execution_key))
        raise Conflict("could not draw a unique coupon code")
    free = session.scalar(
        select(Coupon)
        .where(
            Coupon.brand_id == brand_id,
            Coupon.pool == node["pool"],
            Coupon.execution_key.is_(None),
            (Coupon.expires_at.is_(None)) | (Coupon.expires_at > now),
        )
        .order_by(Coupon.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    if free is None:
        return None
    # A pool code keeps its own expiry unless the node's is sooner.
    if expires_at is not None and (free.expires_at is None or expires_at < free.expires_at):
        free.expires_at = expires_at
    for name, value in assignment.items():
        setattr(free, name, value)
    session.flush()
    return free


def run_coupon(session: Session, run_id: int) -> dict[str, Any] | None:
    """The latest coupon given to a run, as a message shows it."""
    coupon = session.execute(
        select(Coupon.code, Coupon.expires_at)
        .where(Coupon.run_id == run_id)
        .order_by(Coupon.id.desc())
        .limit(1)
    ).first()
    return None if coupon is None else {"code": coupon[0], "expires_at": coupon[1]}


def _next_anniversary(born: date, today: date) -> date:
    for year in (today.year, today.year + 1):
        day = born.day
        if (born.month, born.day) == (2, 29) and not calendar.isleap(year):
            day = 28
        candidate = date(year, born.month, day)
        if candidate >= today:
            return candidate
    raise AssertionError("an anniversary falls within a year")


def _property_date(
    session: Session,
    *,
    brand_id: int,
    customer_id: int,
    order_id: int | None,
    name: str,
    today: date,
    zone: ZoneInfo,
) -> date | None:
    """The date a ``wait`` aims at, before its offset (``None``: the customer has none);
    an order's timestamps are taken on their local day in ``zone``."""
    if name == "birth_date":
        born = session.scalar(select(Customer.birth_date).where(Customer.id == customer_id))
        return None if born is None else _next_anniversary(born, today)
    if name.startswith("order.") and name[len("order.") :] in ORDER_DATES:
        column = getattr(Order, name[len("order.") :])
        which = Order.id == order_id if order_id is not None else Order.customer_id == customer_id
        moment: datetime | None = session.scalar(
            select(column)
            .where(which, Order.brand_id == brand_id)
            .order_by(Order.purchased_at.desc())
            .limit(1)
        )
        return None if moment is None else moment.astimezone(zone).date()
    # A custom property, named bare or as segment rules name it (property.<name>).
    custom = property_name(name) or name
    text = customer_properties(session, brand_id=brand_id, customer_id=customer_id).get(custom)
    try:
        return date.fromisoformat(str(text)[:10]) if text else None
    except ValueError:
        return None


def until_date(
    session: Session,
    *,
    brand_id: int,
    customer_id: int,
    order_id: int | None,
    until: dict[str, Any],
    timezone: str,
    now: datetime,
) -> datetime:
    """When a ``wait`` with ``until`` ends: the property's date moved by ``offset_days``, at
    ``at`` local time; ``now`` when that has passed or the customer has no such date."""
    zone = ZoneInfo(timezone)
    target = _property_date(
        session,
        brand_id=brand_id,
        customer_id=customer_id,
        order_id=order_id,
        name=until["property"],
        # A yearly date (a birthday) is taken on or after today minus the offset, so
        # that "the day after the birthday" still finds today's birthday.
        today=now.astimezone(zone).date() - timedelta(days=until["offset_days"]),
        zone=zone,
    )
    if target is None:
        return now
    day = target + timedelta(days=until["offset_days"])
    moment = datetime.combine(day, parse_clock(until["at"]), zone).astimezone(UTC)
    return max(moment, now)
