"""Popularity conditioned on the customer's categories (a product-level candidate).

:class:`CategoryPopularity` scores product ``j`` for customer ``u`` by the category
mixture::

    P(j | u) = P(c(j) | u) * P(j | c(j))

where ``P(c | u)`` is the share of ``u``'s distinct purchased products that lie in
category ``c`` and ``P(j | c)`` is ``j``'s share of the distinct buyers of the products
of ``c`` (its popularity inside its category). It is the best-seller list with the
catalogue narrowed to what this customer shops for: the hierarchical prior that
item-level models shrink towards when the item evidence is thin (next-best-offer's
category term without its item and restocking terms), and a strong simple baseline where
baskets hold one item and co-occurrence is sparse (Cremonesi, Koren and Turrin 2010,
"Performance of recommender algorithms on top-N recommendation tasks", RecSys: plain
popularity is hard to beat on top-N hit-rate; Ferrari Dacrema, Cremonesi and Jannach 2019,
"Are we really making much progress?", RecSys: simple neighbourhood and popularity
baselines beat most published neural models). Products outside the customer's
categories score 0 (the best sellers only pad the list).

At category level the mixture is the customer's own categories by their share, i.e.
own history, so the selection offers this candidate at product level only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recompra.recommend.base import BaseRecommender, Exclude
from recompra.recommend.topk import SparseScores


class CategoryPopularity(BaseRecommender):
    """Best sellers of the customer's categories, weighted by the customer's share of each.

    Parameters
    ----------
    level
        ``"product"`` (at ``"category"`` the score is own history by share, see the
        module docstring).
    """

    default_exclude: Exclude = "none"

    def _fit_model(self, lines: pd.DataFrame) -> None:
        index = self.index_
        self.categories_, cat_pos = np.unique(index.category, return_inverse=True)
        self.item_to_category_: sp.csr_matrix = sp.csr_matrix(
            (np.ones(index.size), (np.arange(index.size), cat_pos)),
            shape=(index.size, len(self.categories_)),
        )
        # P(j | c): the product's distinct buyers over those of its category's products.
        category_buyers = np.bincount(
            cat_pos, weights=self.popularity_, minlength=len(self.categories_)
        )
        self.within_category_: np.ndarray = self.popularity_ / np.maximum(
            category_buyers[cat_pos], 1.0
        )
        self.category_of_: np.ndarray = cat_pos
        #: Category x product: ``P(j | c)`` where ``j`` lies in ``c`` (one entry a column).
        self.category_items_: sp.csr_matrix = sp.csr_matrix(
            (self.within_category_, (cat_pos, np.arange(index.size))),
            shape=(len(self.categories_), index.size),
        )

    def _sparse_scores(self, history: sp.csr_matrix, customer_ids: np.ndarray) -> SparseScores:
        # A customer's evidence is the products of the categories they bought in, a small
        # share of the catalogue: ranked by topk.sparse_top, the same lists as the dense
        # scores. Each cell is one product share[u, c] * within[j] (one category per
        # product), so the sparse product computes exactly the dense cell's value.
        binary = history.copy()
        binary.data[:] = 1.0
        per_category = (binary @ self.item_to_category_).tocsr()
        totals = np.asarray(per_category.sum(axis=1)).ravel()
        lengths = np.diff(per_category.indptr)
        per_category.data = per_category.data / np.maximum(np.repeat(totals, lengths), 1.0)
        evidence = (per_category @ self.category_items_).tocsr()
        evidence.eliminate_zeros()  # unbought products score 0 on both paths
        return SparseScores(evidence)
