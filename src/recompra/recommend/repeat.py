"""Repeat purchase learned per item and per customer: who re-buys what, and when.

The old rule flagged whole *categories* as repeat-purchase when their repeat rate was
1.5x the store median, which can never fire in a store with one category (or where
every category is re-bought). Here repetition is learned item by item, and timed per
customer:

* :func:`rebuy_table`: for each item, its *eligible* buyers (customers with two or more
  orders in total: a one-order customer cannot show repetition), the *repeaters* among
  them (bought the item in two or more distinct orders), the rebuy rate shrunk towards
  the store's own rate with ``prior`` pseudo-buyers, and the median gap in days between
  consecutive purchases of the item by the same customer.
* :func:`customer_item_stats`: per customer and item, how often, how recently and at
  which own rhythm it was bought (read by
  :class:`~recompra.recommend.replenishment.Replenishment` and
  :class:`~recompra.recommend.replenishment.OwnHistory`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recompra.recommend.matrices import ItemIndex
from recompra.recommend.purchases import item_column
from recompra.recommend.sql import Level

REBUY_COLUMNS = ("item_id", "eligible_buyers", "repeaters", "rebuy_rate", "gap_days")
_DAY_SECONDS = 86_400.0


def rebuy_table(lines: pd.DataFrame, level: Level, *, prior: float = 1.0) -> pd.DataFrame:
    """Return the per-item repeat behaviour (see the module docstring).

    Parameters
    ----------
    lines
        Purchase lines (training period only, when evaluating).
    level
        ``"product"`` or ``"category"``.
    prior
        Pseudo-buyers at the store's rebuy rate added to every item (shrinkage: an item
        with two buyers does not get a rate of 0 or 1).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`REBUY_COLUMNS`, one row per item with an eligible buyer, by id.
    """
    column = item_column(level)
    orders = lines.groupby("customer_id")["order_id"].nunique()
    multi = orders.index[orders >= 2]
    eligible = lines.loc[lines["customer_id"].isin(multi), ["customer_id", column, "order_id"]]
    if eligible.empty:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in REBUY_COLUMNS}).astype(
            {"item_id": "int64", "eligible_buyers": "int64", "repeaters": "int64"}
        )
    times = eligible.drop_duplicates().groupby(["customer_id", column]).size()
    per_item = (times >= 2).groupby(level=column).agg(["size", "sum"])
    store_rate = float(per_item["sum"].sum() / per_item["size"].sum())
    gaps = _gaps(lines, column)
    store_gap = float(gaps.median()) if len(gaps) else np.nan
    item_gap = gaps.groupby(level=column).median()
    out = pd.DataFrame(
        {
            "item_id": per_item.index.to_numpy(dtype=np.int64),
            "eligible_buyers": per_item["size"].to_numpy(dtype=np.int64),
            "repeaters": per_item["sum"].to_numpy(dtype=np.int64),
        }
    )
    out["rebuy_rate"] = (out["repeaters"] + prior * store_rate) / (out["eligible_buyers"] + prior)
    out["gap_days"] = item_gap.reindex(out["item_id"]).fillna(store_gap).to_numpy()
    return out[list(REBUY_COLUMNS)]


def _gaps(lines: pd.DataFrame, column: str) -> pd.Series:
    """Return days between consecutive purchases of an item by a customer, by item."""
    visits = lines[["customer_id", column, "purchased_at"]].drop_duplicates()
    visits = visits.sort_values(["customer_id", column, "purchased_at"])
    same = (visits["customer_id"].to_numpy()[1:] == visits["customer_id"].to_numpy()[:-1]) & (
        visits[column].to_numpy()[1:] == visits[column].to_numpy()[:-1]
    )
    delta = visits["purchased_at"].diff().to_numpy()[1:]
    days = pd.Series(delta[same] / np.timedelta64(1, "D"), dtype="float64")
    return pd.Series(
        days.to_numpy(), index=pd.Index(visits[column].to_numpy()[1:][same], name=column)
    )


@dataclass(frozen=True)
class CustomerItemStats:
    """Per (customer, item) purchase facts, as CSR matrices aligned with the history.

    Attributes
    ----------
    times
        Distinct orders holding the item.
    since_days
        Days from the last purchase of the item to the end of the fitted period, plus one
        (so that a purchase on the last day is stored, not an implicit zero).
    own_gap_days
        Mean days between this customer's purchases of the item (0 when bought once).
    """

    times: sp.csr_matrix
    since_days: sp.csr_matrix
    own_gap_days: sp.csr_matrix


def customer_item_stats(
    lines: pd.DataFrame, index: ItemIndex, customers: np.ndarray, level: Level
) -> CustomerItemStats:
    """Return :class:`CustomerItemStats` for ``customers`` (sorted ids) and ``index``."""
    column = item_column(level)
    as_of = lines["purchased_at"].max()
    visits = lines[["customer_id", column, "order_id", "purchased_at"]].drop_duplicates(
        ["customer_id", column, "order_id"]
    )
    grouped = visits.groupby(["customer_id", column])["purchased_at"].agg(["size", "min", "max"])
    cust = grouped.index.get_level_values(0).to_numpy(dtype=np.int64)
    item = index.positions(grouped.index.get_level_values(1).to_numpy(dtype=np.int64))
    row = np.searchsorted(customers, cust)
    keep = item >= 0
    n = grouped["size"].to_numpy(dtype=np.float64)
    since = (as_of - grouped["max"]).dt.total_seconds().to_numpy() / _DAY_SECONDS + 1.0
    span = (grouped["max"] - grouped["min"]).dt.total_seconds().to_numpy() / _DAY_SECONDS
    gap = np.where(n > 1, span / np.maximum(n - 1, 1), 0.0)
    shape = (len(customers), index.size)

    def matrix(values: np.ndarray) -> sp.csr_matrix:
        return sp.csr_matrix((values[keep], (row[keep], item[keep])), shape=shape)

    return CustomerItemStats(
        times=matrix(n),
        since_days=matrix(since.astype(np.float64)),
        own_gap_days=matrix(gap),
    )


@dataclass(frozen=True)
class JustBoughtRule:
    """When an already-bought product is "just bought" and must not be offered again.

    A fixed week is wrong both ways: it re-offers a monthly staple after eight days and
    blocks the re-orders a store's own customers place within days. So the window is
    read from the product's own re-purchase gaps (:func:`_gaps`): a product is just bought
    while less time has passed since the customer's last purchase of it than the
    ``quantile`` of the product's gaps, i.e. sooner than all but that share of its
    re-buyers actually re-bought it. A product with fewer than ``min_gaps`` gaps borrows
    the store's pooled gaps; with no gap anywhere the window is ``fallback_days``. Never
    less than ``floor_days``: whatever the gaps say, an item bought today is not offered.

    Attributes
    ----------
    quantile
        Share of the re-purchases allowed to come sooner than the window.
    min_gaps
        Gaps a product needs for a window of its own.
    floor_days
        Shortest window.
    fallback_days
        Window when the history has no re-purchase at all.
    """

    quantile: float = 0.1
    min_gaps: int = 5
    floor_days: float = 1.0
    fallback_days: float = 7.0

    def windows(self, lines: pd.DataFrame, level: Level) -> tuple[pd.Series, float]:
        """Return the window in days per item with its own gaps, and the store's window."""
        gaps = _gaps(lines, item_column(level))
        store = float(gaps.quantile(self.quantile)) if len(gaps) else self.fallback_days
        by_item = gaps.groupby(level=0)
        own = by_item.quantile(self.quantile)[by_item.size() >= self.min_gaps]
        return own.clip(lower=self.floor_days), max(store, self.floor_days)

    def window_days(self, lines: pd.DataFrame, level: Level, ids: np.ndarray) -> np.ndarray:
        """Return the window in days of each item id of ``ids``."""
        own, store = self.windows(lines, level)
        return own.reindex(ids).fillna(store).to_numpy(dtype=np.float64)
