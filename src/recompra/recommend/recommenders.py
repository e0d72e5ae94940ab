"""Per-customer recommenders: popularity, plain co-occurrence and next-best-offer.

The other candidates live in :mod:`recompra.recommend.ease` (EASE) and
:mod:`recompra.recommend.replenishment` (restocking, own history); the learned blend in
:mod:`recompra.recommend.blend`. All follow the scikit-learn estimator habits
(hyper-parameters in ``__init__``, ``fit`` returns ``self``, learned state ends in ``_``)
and share :meth:`top_k`, which the offline evaluation calls.

History exclusion modes (``exclude``):

``"none"``
    Anything may be recommended, including what the customer already bought.
``"all"``
    Nothing the customer already bought (the "new items only" evaluation).
``"non_repeat"``
    Already-bought items only when they are re-bought in this store (next-best-offer's
    default; see :func:`~recompra.recommend.repeat.rebuy_table`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Self

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recompra.recommend.matrices import (
    Cooccurrence,
    History,
    ItemIndex,
    cooccurrence_matrix,
    top_per_row,
)
from recompra.recommend.purchases import item_column
from recompra.recommend.repeat import rebuy_table
from recompra.recommend.sql import Level
from recompra.recommend.topk import (
    BlockMemo,
    SparseScores,
    dense_top,
    fallback_orders,
    rank_evidence,
    sparse_top,
)

Exclude = Literal["none", "all", "non_repeat"]
#: Dense score cells processed at once (customers x items); bounds memory per chunk.
CHUNK_CELLS = 4_000_000
#: Customers ranked at once on the sparse path (memory grows with their evidence).
SPARSE_CHUNK = 2_000
#: Evidence share of a block's cells above which the block is ranked densely. Measured
#: at 1M consumables orders (20,000 products, top-50 of 10,000 customers, process CPU,
#: docs/recommend.md): the dense path costs about 20 ns per cell, the sparse path with
#: its threshold pass (topk.py) about 90 ns per evidence entry for co-occurrence (14 %
#: of the cells: 0.26 ms a customer against 0.39 ms dense), 130 for EASE and 180 for
#: next-best-offer (whose evidence is three products summed), so dense wins above 11 %
#: (next-best-offer) to 22 % (co-occurrence) of the cells; co-occurrence is the member
#: whose blocks come near the threshold.
DENSE_SHARE = 0.2
_TIE_BREAK = 1e-6


@dataclass(frozen=True)
class SparseTerms:
    """Score terms of :class:`NextBestOffer` for a block of customers (see ``sparse_terms``)."""

    item: sp.csr_matrix
    category: sp.csr_matrix
    repeat: sp.csr_matrix
    prior_mass: np.ndarray


class NotFittedError(RuntimeError):
    """Raised when a recommender is used before :meth:`fit`."""


class BaseRecommender:
    """Shared fitting of the customer history and batched top-k scoring.

    Parameters
    ----------
    level
        ``"product"`` or ``"category"``.
    """

    default_exclude: Exclude = "all"
    #: ``"sparse"`` ranks through :meth:`_sparse_scores` where the model has it (exact,
    #: see :mod:`recompra.recommend.topk`); ``"dense"`` always scores the whole catalogue.
    scoring: Literal["sparse", "dense"] = "sparse"
    #: Set while several lists rank the same blocks (:class:`~recompra.recommend.topk.
    #: BlockMemo`): the block's sparse scores are computed once for all of them.
    block_memo_: BlockMemo | None = None

    def __init__(self, level: Level = "product") -> None:
        self.level: Level = level

    # -- fitting ---------------------------------------------------------------------

    def fit(self, lines: pd.DataFrame, history: History | None = None) -> Self:
        """Learn from purchase lines (training period only when evaluating).

        ``history`` is the :class:`~recompra.recommend.matrices.History` of these same
        ``lines`` when the caller already has it (computed here otherwise).
        """
        if history is None:
            history = History.of(lines, self.level)
        elif history.level != self.level:
            raise ValueError(f"a {history.level} history given to a {self.level} model")
        #: The history fitted with, shared with the models fitted on the same lines.
        self.shared_: History = history
        self.index_: ItemIndex = history.index
        self.customers_: np.ndarray = history.customers
        self.history_: sp.csr_matrix = history.matrix
        buyers = np.asarray((self.history_ > 0).sum(axis=0)).ravel().astype(np.float64)
        self.popularity_: np.ndarray = buyers
        top = buyers.max() if buyers.size else 1.0
        self.popularity_norm_: np.ndarray = buyers / (top or 1.0)
        self.repeatable_: np.ndarray = np.zeros(self.index_.size, dtype=bool)
        #: Blocks of customers ranked by each path of :meth:`_top_k_sparse` (DENSE_SHARE).
        self.blocks_ranked_: dict[str, int] = {"sparse": 0, "dense": 0}
        self._fit_model(lines)
        return self

    def _fit_model(self, lines: pd.DataFrame) -> None:
        """Fit the model-specific state (subclasses)."""

    def shared_history(self) -> History:
        """Return the history this model was fitted with (to fit others on the same lines)."""
        self._check_fitted()
        return self.shared_

    def _check_fitted(self) -> None:
        if not hasattr(self, "index_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted; call fit() first")

    # -- scoring ---------------------------------------------------------------------

    def _sparse_scores(
        self, history: sp.csr_matrix, customer_ids: np.ndarray
    ) -> SparseScores | None:
        """Return the scores of a chunk of customers as sparse evidence plus a rank-one prior.

        ``None`` (the default) when the model only scores densely (:meth:`_scores`).
        """
        return None

    def _has_sparse_scores(self) -> bool:
        return type(self)._sparse_scores is not BaseRecommender._sparse_scores

    def _scores(self, history: sp.csr_matrix, customer_ids: np.ndarray) -> np.ndarray:
        """Return dense scores (customers x items) for a chunk of customers and their history."""
        sparse = self._sparse_scores(history, customer_ids)
        if sparse is None:
            raise NotImplementedError
        return sparse.dense()

    def history_rows(self, customer_ids: np.ndarray) -> sp.csr_matrix:
        """Return the history rows of ``customer_ids`` (empty rows for unknown customers)."""
        return self.rows_of(self.history_, customer_ids)

    def rows_of(self, matrix: sp.csr_matrix, customer_ids: np.ndarray) -> sp.csr_matrix:
        """Return the rows of a matrix aligned with ``customers_`` (empty for unknown ids)."""
        self._check_fitted()
        ids = np.asarray(customer_ids, dtype=np.int64)
        pos = np.searchsorted(self.customers_, ids)
        pos = np.clip(pos, 0, max(len(self.customers_) - 1, 0))
        known = (self.customers_[pos] == ids) if len(self.customers_) else np.zeros(len(ids), bool)
        selector = sp.csr_matrix(
            (np.ones(int(known.sum())), (np.flatnonzero(known), pos[known])),
            shape=(len(ids), len(self.customers_)),
        )
        rows: sp.csr_matrix = (selector @ matrix).tocsr()
        return rows

    def _mask(self, scores: np.ndarray, history: sp.csr_matrix, exclude: Exclude) -> None:
        if exclude == "none":
            return
        coo = history.tocoo()
        if exclude == "all":
            scores[coo.row, coo.col] = -np.inf
        else:
            drop = ~self.repeatable_[coo.col]
            scores[coo.row[drop], coo.col[drop]] = -np.inf

    def top_k(
        self, customer_ids: np.ndarray, k: int = 10, *, exclude: Exclude | None = None
    ) -> np.ndarray:
        """Return the top-``k`` item ids per customer (``-1`` pads short lists).

        Parameters
        ----------
        customer_ids
            Customers to recommend for; unknown ones get the cold-start ranking.
        k
            List length.
        exclude
            History exclusion mode (default: the model's ``default_exclude``).

        Returns
        -------
        numpy.ndarray
            ``(len(customer_ids), k)`` int64 item ids, best first.
        """
        ids, _ = self._top_k_positions(customer_ids, k, exclude or self.default_exclude)
        return ids

    def _top_k_positions(
        self, customer_ids: np.ndarray, k: int, exclude: Exclude, *, evidence_only: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(ids, positions)`` of the top ``k`` (``-1`` pads).

        With ``evidence_only`` the lists stop where the model's own score does (no
        popularity padding): what a blend fuses is then only what each member knows.
        """
        self._check_fitted()
        customer_ids = np.asarray(customer_ids, dtype=np.int64)
        n_items = self.index_.size
        out_ids = np.full((len(customer_ids), k), -1, dtype=np.int64)
        out_pos = np.full((len(customer_ids), k), -1, dtype=np.int64)
        if n_items == 0 or len(customer_ids) == 0:
            return out_ids, out_pos
        kk = min(k, n_items)
        tie = _TIE_BREAK * self.popularity_norm_
        if self.scoring == "sparse" and self._has_sparse_scores():
            return self._top_k_sparse(customer_ids, k, exclude, evidence_only, tie)
        chunk = max(1, CHUNK_CELLS // n_items)
        # Customers without history all get the same list: score one, copy it to all.
        empty = np.diff(self.history_rows(customer_ids).indptr) == 0
        if empty.sum() > 1:
            first = customer_ids[np.flatnonzero(empty)[:1]]
            one_ids, one_pos = self._top_k_positions(first, k, exclude, evidence_only=evidence_only)
            out_ids[empty], out_pos[empty] = one_ids[0], one_pos[0]
            rest = np.flatnonzero(~empty)
            ids, pos = self._top_k_positions(
                customer_ids[rest], k, exclude, evidence_only=evidence_only
            )
            out_ids[rest], out_pos[rest] = ids, pos
            return out_ids, out_pos
        for start in range(0, len(customer_ids), chunk):
            block_ids = customer_ids[start : start + chunk]
            rows = self.history_rows(block_ids)
            top = self._rank_dense(self._scores(rows, block_ids), rows, exclude, evidence_only, kk)
            out_pos[start : start + len(block_ids), :kk] = top
        out_ids[:, :kk] = np.where(out_pos[:, :kk] >= 0, self.index_.ids[out_pos[:, :kk]], -1)
        return out_ids, out_pos

    def _rank_dense(
        self, scores: np.ndarray, rows: sp.csr_matrix, exclude: Exclude, evidence_only: bool, k: int
    ) -> np.ndarray:
        """Return the top-``k`` positions of dense block scores (``-1``: none or no evidence)."""
        evidence = scores > 0 if evidence_only else None
        scores += _TIE_BREAK * self.popularity_norm_
        self._mask(scores, rows, exclude)
        best = dense_top(scores, k)
        valid = np.isfinite(np.take_along_axis(scores, best, axis=1))
        if evidence is not None:
            valid &= np.take_along_axis(evidence, best, axis=1)
        top: np.ndarray = np.where(valid, best, -1)
        return top

    def _excluded(self, history: sp.csr_matrix, exclude: Exclude) -> sp.csr_matrix:
        """Return the history entries ``exclude`` rules out (the sparse path's mask)."""
        if exclude == "none":
            return sp.csr_matrix(history.shape)
        if exclude == "all":
            return history
        coo = history.tocoo()
        drop = ~self.repeatable_[coo.col]
        return sp.csr_matrix(
            (np.ones(int(drop.sum())), (coo.row[drop], coo.col[drop])), shape=history.shape
        )

    def _top_k_sparse(
        self,
        customer_ids: np.ndarray,
        k: int,
        exclude: Exclude,
        evidence_only: bool,
        tie: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The sparse path of :meth:`_top_k_positions` (see :mod:`recompra.recommend.topk`)."""
        out_pos = np.full((len(customer_ids), k), -1, dtype=np.int64)
        kk = min(k, self.index_.size)
        orders: list[np.ndarray] | None = None
        for start in range(0, len(customer_ids), SPARSE_CHUNK):
            block_ids = customer_ids[start : start + SPARSE_CHUNK]
            rows = self.history_rows(block_ids)
            memo = self.block_memo_
            scores = memo.get(block_ids) if memo is not None else None
            if scores is None:
                scores = self._sparse_scores(rows, block_ids)
                assert scores is not None  # checked by the caller
                if memo is not None:
                    memo.keep(block_ids, scores)
            if orders is None:
                orders = fallback_orders(tie, scores.prior)
            if scores.evidence.nnz > DENSE_SHARE * len(block_ids) * self.index_.size:
                # Evidence on a large share of the catalogue (see DENSE_SHARE): scoring the
                # block densely costs less than sorting it. Same scores, same rule.
                self.blocks_ranked_["dense"] += 1
                chunk = max(1, CHUNK_CELLS // self.index_.size)
                for sub in range(0, len(block_ids), chunk):
                    part = scores.rows(sub, sub + chunk)
                    top = self._rank_dense(
                        part.dense(), rows[sub : sub + chunk], exclude, evidence_only, kk
                    )
                    out_pos[start + sub : start + sub + len(top), :kk] = top
                continue
            self.blocks_ranked_["sparse"] += 1
            ranked = None
            if memo is not None:
                # Rank for any exclusion within the history: the block's next list reuses it.
                ranked = memo.ranked
                if ranked is None or ranked.k != kk:
                    ranked = rank_evidence(scores, tie, np.diff(rows.indptr), kk)
                    memo.ranked = ranked
            top = sparse_top(
                scores,
                tie,
                self._excluded(rows, exclude),
                kk,
                orders,
                evidence_only=evidence_only,
                ranked=ranked,
            )
            out_pos[start : start + len(block_ids), :kk] = top
        out_ids = np.where(out_pos >= 0, self.index_.ids[np.maximum(out_pos, 0)], -1)
        return out_ids, out_pos


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
