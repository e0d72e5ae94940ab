"""Purchases and net values on the operational database, and small SQL helpers.

A purchase and its net value follow :mod:`recompra.analytics.prepare`: an order whose
status is not in ``NON_PURCHASE_STATUSES``, net = paid total minus the refunds recorded
for it, floored at 0 per order. Analytics states that definition in DuckDB/Spark SQL over
the snapshot; this module states the same definition in SQLAlchemy Core over the live
tables (SQLite and PostgreSQL), so that segments and their exports stay live between
analytics runs. Every expression takes the bound parameters named below.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, case, func, literal, not_, select
from sqlalchemy.sql.expression import bindparam

from recompra.models import Order, Return
from recompra.models.base import UTCDateTime
from recompra.snapshot.schema import NON_PURCHASE_STATUSES

#: Bound parameter names shared by every segment statement.
BRAND = "brand_id"
CUSTOMER_IDS = "customer_ids"
NOW = "now"


def day_start(day: date) -> datetime:
    """Midnight UTC starting ``day``."""
    return datetime.combine(day, time(), tzinfo=UTC)


def purchase_filter(brand: ColumnElement[Any], *, subset: bool) -> list[ColumnElement[bool]]:
    """The orders that are purchases of the brand up to now (optionally of the subset)."""
    conditions = [
        Order.brand_id == brand,
        not_(one_of(Order.status, NON_PURCHASE_STATUSES)),
        Order.purchased_at <= bindparam(NOW, type_=UTCDateTime()),
    ]
    if subset:
        conditions.append(Order.customer_id.in_(bindparam(CUSTOMER_IDS, expanding=True)))
    return conditions


def net_value(*, subset: bool) -> tuple[Any, ColumnElement[int]]:
    """``(refunds subquery, net value expression)`` of an order, as analytics defines it."""
    refunds_query = select(
        Return.order_id, func.sum(Return.amount_minor).label("refund_minor")
    ).where(
        Return.brand_id == bindparam(BRAND),
        Return.created_at <= bindparam(NOW, type_=UTCDateTime()),
    )
    if subset:
        # Only the subset's orders: drive from them rather than from every return.
        refunds_query = refunds_query.join(Order, Order.id == Return.order_id).where(
            Order.customer_id.in_(bindparam(CUSTOMER_IDS, expanding=True))
        )
    refunds = refunds_query.group_by(Return.order_id).subquery("refunds")
    remaining = Order.total_minor - func.coalesce(refunds.c.refund_minor, 0)
    return refunds, case((remaining > 0, remaining), else_=0)


def one_of(column: Any, values: Iterable[Any]) -> ColumnElement[bool]:
    """``column IN (v1, v2, ...)`` with one fixed parameter per value.

    ``in_()`` with a plain list would be an "expanding" parameter, re-rendered into the SQL
    on every execution; a version's values never change, so they are fixed at compile
    time and the cached statement runs as is (a tenth of an incremental re-evaluation).
    """
    return column.in_([literal(v) for v in values])  # type: ignore[no-any-return]


def compare(column: Any, op: str, value: Any) -> ColumnElement[bool]:
    """``column op value`` for the plain comparison operators."""
    if op == "is_null":
        return column.is_(None)  # type: ignore[no-any-return]
    if op == "is_not_null":
        return column.is_not(None)  # type: ignore[no-any-return]
    if op == "between":
        return column.between(value[0], value[1])  # type: ignore[no-any-return]
    if op == "in":
        return one_of(column, value)
    if op == "not_in":
        return not_(one_of(column, value))
    operators: dict[str, Callable[[Any, Any], Any]] = {
        "eq": lambda a, b: a == b,
        "ne": lambda a, b: a != b,
        "gt": lambda a, b: a > b,
        "gte": lambda a, b: a >= b,
        "lt": lambda a, b: a < b,
        "lte": lambda a, b: a <= b,
    }
    return operators[op](column, value)  # type: ignore[no-any-return]


def upcoming_birthdays(today: date, days: int) -> list[int]:
    """``month * 100 + day`` codes of today and the next ``days`` days.

    People born on 29 February celebrate on the 28th in years without one.
    """
    codes = []
    for offset in range(days + 1):
        day = today + timedelta(offset)
        codes.append(day.month * 100 + day.day)
        if day.month == 2 and day.day == 28 and (day + timedelta(1)).month == 3:
            codes.append(229)
    return codes
