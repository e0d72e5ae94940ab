"""Delivery experience: was the order delivered by the date the store promised?

The on-time rule: an order is **on time** when the customer received it on or before the
estimated delivery *day*, both read as calendar days in the store's time zone (Olist gives
the estimate as a day, and a parcel delivered at 22:00 that day is on time even though it
is already the next day in UTC). Delivered later is **late**; an order with no delivery
date is **not delivered**; one delivered without an estimate has **no estimate**.
"""

from __future__ import annotations

import pandas as pd

#: Brazilian stores promise days in Brasília/São Paulo time.
STORE_TIMEZONE = "America/Sao_Paulo"
ON_TIME, LATE, NOT_DELIVERED, NO_ESTIMATE = "on_time", "late", "not_delivered", "no_estimate"
DELIVERY_STATUSES = (ON_TIME, LATE, NOT_DELIVERED, NO_ESTIMATE)


def _local_day(column: pd.Series, timezone: str) -> pd.Series:
    # Wall-clock days: normalising an aware series fails on days whose midnight does not
    # exist (Brazil's daylight saving time began at 00:00).
    local = pd.to_datetime(column, utc=True).dt.tz_convert(timezone).dt.tz_localize(None)
    return local.dt.normalize()


def delivery_status(
    delivered_at: pd.Series, estimated_at: pd.Series, *, timezone: str = STORE_TIMEZONE
) -> pd.Series:
    """One of :data:`DELIVERY_STATUSES` per order (aware UTC timestamps in, strings out)."""
    delivered, estimated = _local_day(delivered_at, timezone), _local_day(estimated_at, timezone)
    status = pd.Series(LATE, index=delivered_at.index, dtype=object)
    status[delivered <= estimated] = ON_TIME
    status[delivered.notna() & estimated.isna()] = NO_ESTIMATE
    status[delivered.isna()] = NOT_DELIVERED
    return status
