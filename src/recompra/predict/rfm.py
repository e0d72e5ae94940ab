"""Calibration summaries (frequency, recency, T, monetary value) from transactions.

Conventions (as in the papers, lifetimes and BTYDplus ``elog2cbs``): purchases on the same
calendar day (UTC) collapse into one transaction whose value is the day's sum; ``frequency``
counts *repeat* purchase days in the calibration period; ``recency`` and ``T`` are the
customer's age at the last purchase and at the end of the calibration period, in units of
``time_unit_days`` days, measured between calendar days; ``monetary_value`` is the mean
value of the repeat transactions (0 for one-time buyers), as the Gamma-Gamma model expects.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from recompra.predict._base import FloatArray
from recompra.snapshot.schema import NON_PURCHASE_STATUSES

IntArray = npt.NDArray[np.int64]


def to_day(value: datetime | date | np.datetime64 | str) -> int:
    """Return the UTC calendar day of ``value`` as days since 1970-01-01."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        value = value.date()
    text = value.isoformat() if isinstance(value, date) else value
    day: np.datetime64 = np.datetime64(text).astype("datetime64[D]")
    return int(day.astype(np.int64))


def day_to_date(day: int) -> date:
    """Inverse of :func:`to_day`."""
    result: date = np.datetime64(int(day), "D").astype(date)
    return result


@dataclass(frozen=True)
class RFMSummary:
    """One row per customer with a purchase on or before the calibration end."""

    customer_id: IntArray
    frequency: FloatArray
    recency: FloatArray
    T: FloatArray
    monetary_value: FloatArray
    first_day: IntArray
    last_day: IntArray
    calibration_end_day: int
    time_unit_days: float
    holdout_frequency: FloatArray | None = None
    holdout_days: int = 0

    def __len__(self) -> int:
        return int(self.customer_id.size)

    def to_arrow(self) -> pa.Table:
        """The summary as an Arrow table (for reports and debugging)."""
        cols: dict[str, Any] = {
            "customer_id": self.customer_id,
            "frequency": self.frequency,
            "recency": self.recency,
            "T": self.T,
            "monetary_value": self.monetary_value,
        }
        if self.holdout_frequency is not None:
            cols["holdout_frequency"] = self.holdout_frequency
        return pa.table(cols)


def summarize(
    customer_id: npt.ArrayLike,
    purchased_at: npt.ArrayLike,
    value: npt.ArrayLike,
    *,
    calibration_end: datetime | date | np.datetime64 | str,
    observation_end: datetime | date | np.datetime64 | str | None = None,
    time_unit_days: float = 7.0,
) -> RFMSummary:
    """Build the RFM summary of transactions up to ``calibration_end`` (inclusive day).

    Parameters
    ----------
    customer_id : array-like of int
        Customer of each transaction.
    purchased_at : array-like of datetime64
        Transaction instants (any ``datetime64`` unit, UTC).
    value : array-like of float
        Transaction values (any currency unit; minor units are fine).
    calibration_end : datetime-like
        Last calendar day of the calibration period.
    observation_end : datetime-like, optional
        Last day of a holdout period; when given, ``holdout_frequency`` counts the purchase
        days in ``(calibration_end, observation_end]`` of each calibration customer.
    time_unit_days : float, default 7
        Length of the time unit of ``recency`` and ``T`` (7 = weeks, as in the papers).

    Returns
    -------
    RFMSummary
    """
    cust = np.asarray(customer_id, dtype=np.int64)
    days = np.asarray(purchased_at).astype("datetime64[D]").astype(np.int64)
    vals = np.asarray(value, dtype=np.float64)
    cal_end = to_day(calibration_end)
    obs_end = to_day(observation_end) if observation_end is not None else cal_end
    if obs_end < cal_end:
        raise ValueError("observation_end must not precede calibration_end")
    keep = days <= obs_end
    cust, days, vals = cust[keep], days[keep], vals[keep]
    # collapse same-day purchases of a customer
    order = np.lexsort((days, cust))
    cust, days, vals = cust[order], days[order], vals[order]
    new_pair = np.ones(cust.size, dtype=bool)
    new_pair[1:] = (cust[1:] != cust[:-1]) | (days[1:] != days[:-1])
    starts = np.flatnonzero(new_pair)
    vals = np.add.reduceat(vals, starts) if starts.size else vals[:0]
    cust, days = cust[starts], days[starts]
    # per customer
    new_cust = np.ones(cust.size, dtype=bool)
    new_cust[1:] = cust[1:] != cust[:-1]
    group_starts = np.flatnonzero(new_cust)
    in_cal = days <= cal_end
    if group_starts.size == 0:
        empty_f = np.zeros(0)
        empty_i = np.zeros(0, dtype=np.int64)
        return RFMSummary(
            empty_i, empty_f, empty_f, empty_f, empty_f, empty_i, empty_i, cal_end,
            time_unit_days, empty_f if observation_end is not None else None, obs_end - cal_end,
        )  # fmt: skip
    n_cal = np.add.reduceat(in_cal.astype(np.int64), group_starts)
    sum_cal = np.add.reduceat(np.where(in_cal, vals, 0.0), group_starts)
    n_all = np.diff(np.append(group_starts, cust.size))
    first_day = days[group_starts]
    included = n_cal > 0
    last_idx = group_starts + np.maximum(n_cal, 1) - 1
    last_day = days[last_idx]
    freq = (n_cal - 1).astype(np.float64)
    repeat_sum = sum_cal - vals[group_starts]
    with np.errstate(invalid="ignore", divide="ignore"):
        monetary = np.where(freq > 0, repeat_sum / np.maximum(freq, 1), 0.0)
    unit = float(time_unit_days)
    holdout = (n_all - n_cal).astype(np.float64) if observation_end is not None else None
    return RFMSummary(
        customer_id=cust[group_starts][included],
        frequency=freq[included],
        recency=((last_day - first_day) / unit)[included],
        T=((cal_end - first_day) / unit)[included],
        monetary_value=monetary[included],
        first_day=first_day[included],
        last_day=last_day[included],
        calibration_end_day=cal_end,
        time_unit_days=unit,
        holdout_frequency=holdout[included] if holdout is not None else None,
        holdout_days=obs_end - cal_end,
    )


@dataclass(frozen=True)
class Transactions:
    """Purchase transactions as plain arrays (customer, instant, value)."""

    customer_id: IntArray
    purchased_at: npt.NDArray[np.datetime64]
    value: FloatArray

    def __len__(self) -> int:
        return int(self.customer_id.size)

    def until(self, day: int) -> Transactions:
        """Transactions on or before calendar ``day``."""
        keep = self.purchased_at.astype("datetime64[D]").astype(np.int64) <= day
        return Transactions(self.customer_id[keep], self.purchased_at[keep], self.value[keep])

    @property
    def first_day(self) -> int:
        """First calendar day with a purchase."""
        return int(self.purchased_at.astype("datetime64[D]").astype(np.int64).min())

    @property
    def last_day(self) -> int:
        """Last calendar day with a purchase."""
        return int(self.purchased_at.astype("datetime64[D]").astype(np.int64).max())

    def summary(
        self, *, calibration_day: int, observation_day: int | None, time_unit_days: float
    ) -> RFMSummary:
        """:func:`summarize` these purchases up to ``calibration_day`` (days since the epoch).

        With ``observation_day``, the purchases after the calibration day up to it are the
        holdout.
        """
        return summarize(
            self.customer_id,
            self.purchased_at,
            self.value,
            calibration_end=np.datetime64(calibration_day, "D"),
            observation_end=(
                np.datetime64(observation_day, "D") if observation_day is not None else None
            ),
            time_unit_days=time_unit_days,
        )


def transactions_from_orders(orders: pa.Table, as_of: datetime | None = None) -> Transactions:
    """Purchases from a snapshot ``orders`` table.

    Orders whose status is in :data:`~recompra.snapshot.schema.NON_PURCHASE_STATUSES`,
    without ``purchased_at``/``customer_id``, or purchased after ``as_of`` are dropped. The
    value is ``total_minor`` (integer minor units, kept as float for the models).
    """
    status = orders.column("status")
    mask = pc.invert(pc.fill_null(pc.is_in(status, pa.array(list(NON_PURCHASE_STATUSES))), False))
    mask = pc.and_(mask, pc.is_valid(orders.column("purchased_at")))
    mask = pc.and_(mask, pc.is_valid(orders.column("customer_id")))
    if as_of is not None:
        ts = pa.scalar(_utc(as_of), type=orders.schema.field("purchased_at").type)
        mask = pc.and_(mask, pc.less_equal(orders.column("purchased_at"), ts))
    table = orders.filter(mask)
    purchased = (
        table.column("purchased_at")
        .cast(pa.timestamp("us"))
        .to_numpy(zero_copy_only=False)
        .astype("datetime64[us]")
    )
    total = pc.fill_null(table.column("total_minor"), 0).to_numpy(zero_copy_only=False)
    return Transactions(
        customer_id=table.column("customer_id").to_numpy(zero_copy_only=False).astype(np.int64),
        purchased_at=purchased,
        value=np.asarray(total, dtype=np.float64),
    )


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
