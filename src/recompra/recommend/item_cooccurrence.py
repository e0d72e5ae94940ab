"""Plain item-to-item co-occurrence ("customers who bought X also bought Y")."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recompra.recommend.base import BaseRecommender, Exclude
from recompra.recommend.matrices import Cooccurrence
from recompra.recommend.sql import Level
from recompra.recommend.topk import SparseScores


class ItemCooccurrence(BaseRecommender):
    """Plain item-to-item co-occurrence: sum of same-order cosine (or lift) with the history.

    "Customers who bought X also bought Y", with popularity only as a tie-breaker. With
    nothing excluded (the default, as a baseline of "all items" lists) the history items
    score through their co-occurrence with the rest of the history.

    Parameters
    ----------
    level
        ``"product"`` or ``"category"``.
    min_pair_count
        Pairs seen together in fewer orders are ignored.
    measure
        ``"cosine"`` (``n_ab / sqrt(n_a n_b)``) or ``"lift"`` (``n_ab N / (n_a n_b)``,
        damped as ``log(1 + lift)`` so one rare pair does not swamp the sum).
    """

    default_exclude: Exclude = "none"

    def __init__(
        self,
        level: Level = "product",
        min_pair_count: int = 1,
        measure: Literal["cosine", "lift"] = "cosine",
    ) -> None:
        super().__init__(level)
        self.min_pair_count = min_pair_count
        self.measure = measure

    def _fit_model(self, lines: pd.DataFrame) -> None:
        self.order_cooc_: Cooccurrence = self.shared_.cooccurrence(
            lines, "order", min_pair_count=self.min_pair_count
        )
        if self.measure == "cosine":
            self.similarity_: sp.csr_matrix = self.order_cooc_.cosine
        elif self.measure == "lift":
            counts = self.order_cooc_.counts.tocoo()
            n_i = self.order_cooc_.item_counts
            lift = counts.data * self.order_cooc_.n_baskets / (n_i[counts.row] * n_i[counts.col])
            self.similarity_ = sp.csr_matrix(
                (np.log1p(lift), (counts.row, counts.col)), shape=counts.shape
            )
        else:
            raise ValueError(f"unknown measure {self.measure!r}; expected cosine or lift")

    def _sparse_scores(self, history: sp.csr_matrix, customer_ids: np.ndarray) -> SparseScores:
        binary = history.copy()
        binary.data[:] = 1.0
        # A sparse product holds each (row, column) once: summed (see SparseScores).
        return SparseScores((binary @ self.similarity_).tocsr(), summed=True)
