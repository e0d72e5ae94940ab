"""The shared base of the recommenders: fitting the customer history, batched top-k.

Every recommender (:mod:`~recompra.recommend.popularity`,
:mod:`~recompra.recommend.item_cooccurrence`, :mod:`~recompra.recommend.nbo_model`,
:mod:`~recompra.recommend.ease`, :mod:`~recompra.recommend.replenishment`, the learned
blend in :mod:`~recompra.recommend.blend`) subclasses :class:`BaseRecommender`. All
follow the scikit-learn estimator habits (hyper-parameters in ``__init__``, ``fit``
returns ``self``, learned state ends in ``_``) and share :meth:`BaseRecommender.top_k`,
which the offline evaluation calls.

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

from typing import Literal, Self

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recompra.recommend.matrices import History, ItemIndex
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
