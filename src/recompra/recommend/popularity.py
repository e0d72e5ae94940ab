"""Popularity: the best sellers, all-time or recent (the cold-start baseline)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recompra.recommend.base import BaseRecommender, Exclude
from recompra.recommend.purchases import item_column
from recompra.recommend.sql import Level
from recompra.recommend.topk import SparseScores


class Popularity(BaseRecommender):
    """Best sellers (distinct training customers per item): the cold-start baseline.

    Parameters
    ----------
    level
        ``"product"`` or ``"category"``.
    recent_fraction
        When set, count only the buyers of the last ``recent_fraction`` of the fitted
        time span ("trending now"); items not bought then fall back to all-time counts,
        below every recent one.
    """

    default_exclude: Exclude = "none"

    def __init__(self, level: Level = "product", *, recent_fraction: float | None = None) -> None:
        super().__init__(level)
        self.recent_fraction = recent_fraction

    def _fit_model(self, lines: pd.DataFrame) -> None:
        score = self.popularity_norm_.copy()
        if self.recent_fraction is not None and len(lines):
            start, end = lines["purchased_at"].min(), lines["purchased_at"].max()
            since = end - (end - start) * self.recent_fraction
            recent = lines.loc[lines["purchased_at"] >= since]
            column = item_column(self.level)
            buyers = recent.groupby(column)["customer_id"].nunique()
            counts = buyers.reindex(self.index_.ids).fillna(0.0).to_numpy(dtype=np.float64)
            # Recent buyers first; all-time popularity (< 1) orders the rest.
            score = counts + 0.5 * score
            self.popularity_ = counts
        self.ranking_: np.ndarray = score / (score.max(initial=0.0) or 1.0)

    def _sparse_scores(self, history: sp.csr_matrix, customer_ids: np.ndarray) -> SparseScores:
        # One shared list: no evidence, the ranking as the prior of every row.
        n = history.shape[0]
        return SparseScores(sp.csr_matrix(history.shape), np.ones(n), self.ranking_)
