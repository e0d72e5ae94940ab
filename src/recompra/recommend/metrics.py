"""Top-k ranking metrics of recommendation lists against what customers bought next.

Per customer: hit (at least one relevant item in the list), precision (relevant in the
list / ``k``), recall (relevant in the list / relevant), NDCG (discounted gain of the
hits, ``1 / log2(rank + 1)``, over the best possible for that customer); each averaged
over customers. Catalogue coverage is the share of the catalogue recommended to anyone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

METRICS = ("hit_rate", "precision", "recall", "ndcg")


@dataclass(frozen=True)
class Relevant:
    """What each evaluated customer bought in the held-out period.

    Attributes
    ----------
    customers
        Evaluated customer ids; row ``r`` of a list matrix belongs to ``customers[r]``.
    keys
        Sorted ``row * stride + item_id`` of every relevant (customer, item).
    counts
        Relevant items per row.
    stride
        Larger than every item id.
    """

    customers: np.ndarray
    keys: np.ndarray
    counts: np.ndarray
    stride: int

    @classmethod
    def build(cls, customers: np.ndarray, pairs: pd.DataFrame) -> Relevant:
        """Index ``customer_id, item_id`` pairs for the rows of ``customers``."""
        customers = np.asarray(customers, dtype=np.int64)
        row_of = pd.Series(np.arange(len(customers)), index=customers)
        mine = pairs.loc[pairs["customer_id"].isin(customers)]
        rows = row_of.reindex(mine["customer_id"]).to_numpy(dtype=np.int64)
        items = mine["item_id"].to_numpy(dtype=np.int64)
        stride = int(items.max(initial=0)) + 2
        keys = np.unique(rows * stride + items)
        counts = np.bincount(keys // stride, minlength=len(customers))
        return cls(customers=customers, keys=keys, counts=counts, stride=stride)

    def take(self, rows: np.ndarray) -> Relevant:
        """Return the relevant items of the customers at ``rows`` (renumbered from 0)."""
        rows = np.asarray(rows, dtype=np.int64)
        new_row = np.full(len(self.customers), -1, dtype=np.int64)
        new_row[rows] = np.arange(len(rows))
        old_row = self.keys // self.stride
        kept = new_row[old_row] >= 0
        keys = new_row[old_row[kept]] * self.stride + self.keys[kept] % self.stride
        return Relevant(
            customers=self.customers[rows],
            keys=np.sort(keys),
            counts=self.counts[rows],
            stride=self.stride,
        )


def hit_matrix(recs: np.ndarray, relevant: Relevant) -> np.ndarray:
    """Return ``(customers, k)`` booleans: is the item at each rank relevant?"""
    rows = np.arange(recs.shape[0], dtype=np.int64)[:, None]
    valid = (recs >= 0) & (recs < relevant.stride)
    keys = rows * relevant.stride + np.where(valid, recs, 0)
    hits: np.ndarray = valid & np.isin(keys, relevant.keys)
    return hits


def ranking_metrics(recs: np.ndarray, relevant: Relevant, k: int) -> dict[str, float]:
    """Return :data:`METRICS` of lists ``recs`` (item ids, ``-1`` pads) at ``k``.

    Examples
    --------
    >>> rel = Relevant.build(np.array([10, 20]), pd.DataFrame(
    ...     {"customer_id": [10, 10, 20], "item_id": [2, 9, 7]}))
    >>> m = ranking_metrics(np.array([[1, 2, 3], [4, 5, 6]]), rel, k=3)
    >>> round(m["hit_rate"], 3), round(m["recall"], 3), round(m["ndcg"], 3)
    (0.5, 0.25, 0.193)
    """
    if len(relevant.customers) == 0:
        return {name: float("nan") for name in METRICS}
    return hit_metrics(hit_matrix(recs[:, :k], relevant), relevant.counts, k)


def hit_metrics(hits: np.ndarray, counts: np.ndarray, k: int) -> dict[str, float]:
    """Return :data:`METRICS` from ``(customers, <= k)`` hit flags and relevant counts."""
    n = hits.shape[0]
    if n == 0:
        return {name: float("nan") for name in METRICS}
    found = hits.sum(axis=1).astype(np.float64)
    wanted = counts.astype(np.float64)
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = hits @ discount[: hits.shape[1]]
    ideal = np.cumsum(discount)[np.clip(counts, 1, k) - 1]
    return {
        "hit_rate": float(np.mean(found > 0)),
        "precision": float(np.mean(found / k)),
        "recall": float(np.mean(np.divide(found, wanted, out=np.zeros(n), where=wanted > 0))),
        "ndcg": float(np.mean(np.where(wanted > 0, dcg / ideal, 0.0))),
    }


#: Resamples drawn at once: bounds the bootstrap's memory to batch x customers floats.
_BOOTSTRAP_BATCH = 200


@dataclass(frozen=True)
class PairedDifference:
    """Mean per-customer difference of two lists' hits, with a bootstrap interval.

    Attributes
    ----------
    difference
        Hit-rate of the first list minus the second's (same customers).
    low, high
        Bounds of the percentile bootstrap confidence interval of ``difference``.
    confidence
        Confidence level of the interval.
    """

    difference: float
    low: float
    high: float
    confidence: float


def paired_difference(
    first: npt.ArrayLike,
    second: npt.ArrayLike,
    *,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> PairedDifference:
    """Return the hit-rate difference of two lists scored on the same customers.

    Customers are resampled with replacement, keeping each customer's pair of outcomes
    together (a paired percentile bootstrap, :func:`scipy.stats.bootstrap` with
    ``paired=True``; Efron and Tibshirani 1993, ch. 13), so the interval reflects how
    much the difference depends on which customers happened to buy in the period.

    Parameters
    ----------
    first, second
        Per customer, whether each list holds a relevant item (booleans, same rows).
    """
    a = np.asarray(first, dtype=np.float64)
    b = np.asarray(second, dtype=np.float64)
    if len(a) == 0:
        nan = float("nan")
        return PairedDifference(nan, nan, nan, confidence)
    difference = float(np.mean(a - b))
    if np.all(a == b):
        # Identical outcomes: every resample gives 0 (and scipy warns on a degenerate set).
        return PairedDifference(difference, difference, difference, confidence)
    result = stats.bootstrap(
        (a, b),
        lambda x, y, axis: np.mean(x - y, axis=axis),
        paired=True,
        vectorized=True,
        n_resamples=resamples,
        confidence_level=confidence,
        method="percentile",
        batch=_BOOTSTRAP_BATCH,
        random_state=np.random.default_rng(seed),
    )
    interval = result.confidence_interval
    return PairedDifference(difference, float(interval.low), float(interval.high), confidence)
