"""SQL helpers: the purchase filter, period keys per dialect, aggregate timestamps."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, func
from sqlalchemy.orm import Session

from recompra.models import Order
from recompra.snapshot.schema import NON_PURCHASE_STATUSES

Granularity = Literal["month", "year"]


def purchase_filter() -> ColumnElement[bool]:
    """Orders that count as purchases (canceled and unavailable ones do not)."""
    return Order.status.not_in(NON_PURCHASE_STATUSES)


def period_key(session: Session, column: Any, granularity: Granularity) -> ColumnElement[str]:
    """``YYYY-MM`` (or ``YYYY``) of a UTC timestamp column, in the session's dialect."""
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        return func.strftime("%Y-%m" if granularity == "month" else "%Y", column)
    if dialect == "postgresql":
        fmt = "YYYY-MM" if granularity == "month" else "YYYY"
        return func.to_char(func.timezone("UTC", column), fmt)
    raise NotImplementedError(f"period keys are not defined for {dialect}")


def aware(value: datetime | str | None) -> datetime | None:
    """An aggregate's timestamp as aware UTC (aggregates bypass the column type)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
