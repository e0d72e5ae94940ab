"""Restocking recommenders: :class:`Replenishment` (learned) and :class:`OwnHistory` (baseline).

Both rank what the customer already bought, from the per-item and per-customer repeat
behaviour of :mod:`recompra.recommend.repeat`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recompra.recommend.base import BaseRecommender, Exclude
from recompra.recommend.repeat import customer_item_stats, rebuy_table
from recompra.recommend.sql import Level
from recompra.recommend.topk import SparseScores

#: Lowest weight of the timing factor: an overdue or early item is demoted, never dropped.
_DUE_FLOOR = 0.25


class Replenishment(BaseRecommender):
    """Restocking: already-bought items by rebuy probability and how due they are.

    For customer ``u`` and an item ``j`` they bought ``n`` times, last ``s`` days ago::

        score = (1 - (1 - rate_j) ** n) * max(0.25, exp(-(ln((s + 1) / (g + 1)))**2 / 2))

    where ``rate_j`` is the item's shrunk rebuy rate (:func:`rebuy_table`) and ``g`` the
    customer's own mean gap for ``j`` (the item's median gap when bought once): the score
    peaks when the usual gap has elapsed. Items never bought score 0 (popularity only
    breaks ties), so this model only ranks the history.

    Parameters
    ----------
    level
        ``"product"`` or ``"category"``.
    prior
        Shrinkage of the rebuy rates (see :func:`rebuy_table`).
    """

    default_exclude: Exclude = "none"

    def __init__(self, level: Level = "product", *, prior: float = 1.0) -> None:
        super().__init__(level)
        self.prior = prior

    def _fit_model(self, lines: pd.DataFrame) -> None:
        self.rebuy_table_: pd.DataFrame = rebuy_table(lines, self.level, prior=self.prior)
        table = self.rebuy_table_.set_index("item_id")
        fallback_rate = float(table["rebuy_rate"].min()) if len(table) else 0.0
        rate = table["rebuy_rate"].reindex(self.index_.ids).fillna(fallback_rate).to_numpy()
        store_gap = float(table["gap_days"].median()) if len(table) else 30.0
        gap = table["gap_days"].reindex(self.index_.ids).fillna(store_gap).to_numpy()
        stats = customer_item_stats(lines, self.index_, self.customers_, self.level)
        times = stats.times.tocoo()
        since = np.asarray(stats.since_days[times.row, times.col]).ravel()
        own_gap = np.asarray(stats.own_gap_days[times.row, times.col]).ravel()
        expected = np.where(own_gap > 0, own_gap, gap[times.col])
        expected = np.nan_to_num(expected, nan=30.0)
        due = np.exp(-0.5 * np.log((since + 1.0) / (expected + 1.0)) ** 2)
        likely = 1.0 - (1.0 - rate[times.col]) ** times.data
        self.restock_: sp.csr_matrix = sp.csr_matrix(
            (likely * np.maximum(_DUE_FLOOR, due), (times.row, times.col)), shape=times.shape
        )

    def _sparse_scores(self, history: sp.csr_matrix, customer_ids: np.ndarray) -> SparseScores:
        return SparseScores(self.rows_of(self.restock_, customer_ids))


class OwnHistory(BaseRecommender):
    """Baseline: the customer's own items, most often bought first, then most recent."""

    default_exclude: Exclude = "none"

    def _fit_model(self, lines: pd.DataFrame) -> None:
        stats = customer_item_stats(lines, self.index_, self.customers_, self.level)
        times = stats.times.tocoo()
        since = np.asarray(stats.since_days[times.row, times.col]).ravel()
        # Recency only breaks ties between equal counts: it stays below 1.
        recency = 1.0 / (1.0 + since)
        self.own_: sp.csr_matrix = sp.csr_matrix(
            (times.data + recency, (times.row, times.col)), shape=times.shape
        )

    def _sparse_scores(self, history: sp.csr_matrix, customer_ids: np.ndarray) -> SparseScores:
        return SparseScores(self.rows_of(self.own_, customer_ids))
