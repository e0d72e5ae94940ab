"""The next-best-offer recommender: shrunk conditional probabilities plus restocking.

The estimator only; :mod:`recompra.recommend.next_best_offer` turns a fitted one into
explained, policy-aware offers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recompra.recommend.base import BaseRecommender, Exclude
from recompra.recommend.matrices import Cooccurrence, cooccurrence_matrix, top_per_row
from recompra.recommend.repeat import rebuy_table
from recompra.recommend.sql import Level
from recompra.recommend.topk import SparseScores


@dataclass(frozen=True)
class SparseTerms:
    """Score terms of :class:`NextBestOffer` for a block of customers (see ``sparse_terms``)."""

    item: sp.csr_matrix
    category: sp.csr_matrix
    repeat: sp.csr_matrix
    prior_mass: np.ndarray


class NextBestOffer(BaseRecommender):
    """Next-best-offer: smoothed "bought i, then also j" probabilities, plus restocking.

    For a customer ``u`` with purchased items ``H`` and categories ``C``, a candidate item
    ``j`` scores::

        w_item * sum_{i in H} P(j | i) + w_category * sum_{c in C} P(j | c)
        + w_repeat * P(rebuy j)   (only for j in H that this store re-buys)

    where ``P(j | i) = (n_ij + alpha * p_j) / (n_i + alpha)`` is the share of customers
    who bought ``i`` and also ``j`` (same order or not: customer-level co-occurrence),
    shrunk towards ``j``'s overall buyer share ``p_j`` with ``alpha`` pseudo-customers;
    ``P(j | c)`` is the same with "bought in category ``c``" as the condition, which
    makes it category affinity (inside the customer's categories, the popular items win);
    ``P(rebuy j)`` is ``j``'s own shrunk rebuy rate (:func:`~recompra.recommend.repeat.
    rebuy_table`), learned per item, so a one-category store of staples re-offers its
    staples. The shrinkage is the blend with
    popularity: weak co-occurrence evidence falls back to ``p_j``, and a customer with
    no history gets the best sellers (cold start). Already-bought items whose rebuy rate
    is below ``repeat_min_rate`` are excluded (``exclude="non_repeat"``).

    Parameters
    ----------
    level
        ``"product"`` or ``"category"`` (at category level the category term equals the
        item term and is left out).
    alpha
        Pseudo-customers of the shrinkage towards popularity.
    w_item, w_category, w_repeat
        Weights of the three terms.
    repeat_min_rate
        Rebuy rate from which an already-bought item may be offered again.
    repeat_prior
        Pseudo-buyers of the rebuy-rate shrinkage (see :func:`~recompra.recommend.repeat.
        rebuy_table`).
    top_neighbours
        Evidence kept per conditioning item or category: its ``top_neighbours`` strongest
        ``P(j | i)``; weaker ones fall back to the prior. Bounds the cost of scoring
        (a customer's evidence has at most ``top_neighbours`` items per purchase).
    explained
        Keep the pair counts the offer explanations read (``order_cooc_`` and
        ``customer_cooc_``, :mod:`recompra.recommend.next_best_offer`). ``False`` for
        models that only rank (the model selection's windows): the customer-level
        counts are then dropped after the fit, since they are the largest thing such a
        model would hold (every pair of items one customer bought, ever: about 190 MB
        at 1M orders). The scores are the same either way.
    """

    default_exclude: Exclude = "non_repeat"

    def __init__(
        self,
        level: Level = "product",
        *,
        alpha: float = 10.0,
        w_item: float = 1.0,
        w_category: float = 1.0,
        w_repeat: float = 1.0,
        repeat_min_rate: float = 0.1,
        repeat_prior: float = 1.0,
        top_neighbours: int = 100,
        explained: bool = True,
    ) -> None:
        super().__init__(level)
        self.top_neighbours = top_neighbours
        self.explained = explained
        self.alpha = alpha
        self.w_item = w_item
        self.w_category = w_category
        self.w_repeat = w_repeat
        self.repeat_min_rate = repeat_min_rate
        self.repeat_prior = repeat_prior

    def _fit_model(self, lines: pd.DataFrame) -> None:
        index = self.index_
        n_customers = max(len(self.customers_), 1)
        self.base_rate_: np.ndarray = self.popularity_ / n_customers
        if self.explained:
            self.order_cooc_: Cooccurrence = self.shared_.cooccurrence(lines, "order")
            self.customer_cooc_: Cooccurrence = self.shared_.cooccurrence(lines, "customer")
            customer_cooc = self.customer_cooc_
        else:
            # Not cached on the shared history either, so it is freed when the fit ends.
            customer_cooc = cooccurrence_matrix(lines, index, self.level, "customer")
        n_i = customer_cooc.item_counts
        # P(j | i) = n_ij / (n_i + alpha) + p_j * alpha / (n_i + alpha): a sparse part and
        # a rank-one prior part, summed over the history at scoring time.
        inv = sp.diags(1.0 / (n_i + self.alpha))
        # Pruned before the division: a positive factor per row keeps the row's order (equal
        # counts stay equal), so the same entries survive with the same values, without a
        # divided copy as large as the counts (1-2 GB at 10M orders).
        kept = top_per_row(customer_cooc.counts, self.top_neighbours)
        self.item_conditional_: sp.csr_matrix = (inv @ kept).tocsr()
        del customer_cooc, kept
        self.item_prior_weight_: np.ndarray = self.alpha / (n_i + self.alpha)
        # Same with categories as conditions.
        self.categories_, cat_pos = np.unique(index.category, return_inverse=True)
        self.item_category_pos_: np.ndarray = cat_pos
        item_to_cat = sp.csr_matrix(
            (np.ones(index.size), (np.arange(index.size), cat_pos)),
            shape=(index.size, len(self.categories_)),
        )
        self.item_to_category_: sp.csr_matrix = item_to_cat
        bought = self.history_.copy()
        bought.data[:] = 1.0
        cust_cat = (bought @ item_to_cat).tocsr()
        cust_cat.data[:] = 1.0
        n_c = np.asarray(cust_cat.sum(axis=0)).ravel()
        cat_item = (cust_cat.T @ bought).tocsr()
        self.category_conditional_: sp.csr_matrix = top_per_row(
            (sp.diags(1.0 / (n_c + self.alpha)) @ cat_item).tocsr(), self.top_neighbours
        )
        self.category_prior_weight_: np.ndarray = self.alpha / (n_c + self.alpha)
        # Items this store re-buys, and their rebuy probability (learned per item).
        self.rebuy_table_: pd.DataFrame = rebuy_table(lines, self.level, prior=self.repeat_prior)
        rates = (
            self.rebuy_table_.set_index("item_id")["rebuy_rate"]
            .reindex(index.ids)
            .fillna(0.0)
            .to_numpy(dtype=np.float64)
        )
        self.repeatable_ = rates >= self.repeat_min_rate
        self.rebuy_rate_: np.ndarray = np.where(self.repeatable_, rates, 0.0)
        # Prices for the policy's price ceiling (median paid unit price).
        column = "product_id" if self.level == "product" else "category_id"
        item_price = lines.groupby(column)["unit_price_minor"].median()
        self.item_price_: np.ndarray = item_price.reindex(index.ids).to_numpy(dtype=np.float64)
        customer_price = lines.groupby("customer_id")["unit_price_minor"].median()
        self.customer_price_: np.ndarray = customer_price.reindex(self.customers_).to_numpy(
            dtype=np.float64
        )

    def sparse_terms(self, history: sp.csr_matrix) -> SparseTerms:
        """Return the weighted score terms of history rows, sparse, plus the prior mass.

        The score of item ``j`` for row ``u`` is ``item + category + repeat`` (sparse)
        plus ``prior_mass[u] * base_rate_[j]`` (the popularity prior of both
        shrinkages, rank one).
        """
        self._check_fitted()
        binary = history.copy()
        binary.data[:] = 1.0
        item = (binary @ self.item_conditional_).tocsr() * self.w_item
        prior_mass = self.w_item * (binary @ self.item_prior_weight_)
        if self.level == "product" and self.w_category:
            cats = (binary @ self.item_to_category_).tocsr()
            cats.data[:] = 1.0
            category = (cats @ self.category_conditional_).tocsr() * self.w_category
            prior_mass = prior_mass + self.w_category * (cats @ self.category_prior_weight_)
        else:
            category = sp.csr_matrix(item.shape)
        repeat = sp.csr_matrix(binary.multiply(self.rebuy_rate_)) * self.w_repeat
        return SparseTerms(
            item=item, category=category, repeat=repeat, prior_mass=np.asarray(prior_mass)
        )

    def components(self, history: sp.csr_matrix) -> dict[str, np.ndarray]:
        """Return the weighted score terms (dense, customers x items) of history rows.

        Keys: ``item`` (co-occurrence evidence with the history), ``category``
        (category-affinity evidence), ``prior`` (the popularity prior of both
        shrinkages), ``repeat`` (restocking). The score is their sum.
        """
        terms = self.sparse_terms(history)
        return {
            "item": np.asarray(terms.item.toarray()),
            "category": np.asarray(terms.category.toarray()),
            "prior": np.outer(terms.prior_mass, self.base_rate_),
            "repeat": np.asarray(terms.repeat.toarray()),
        }

    def _sparse_scores(self, history: sp.csr_matrix, customer_ids: np.ndarray) -> SparseScores:
        terms = self.sparse_terms(history)
        evidence = (terms.item + terms.category + terms.repeat).tocsr()
        return SparseScores(evidence, terms.prior_mass, self.base_rate_)
