"""A small learning-to-rank model over the candidates' lists (issue 12, "Deliver" 1).

The weighted rank fusion of :mod:`recompra.recommend.blend` can only weigh whole methods.
:class:`LearnedRanker` scores each (customer, item) *pair* instead: per customer the
candidates are the union of the members' top ``depth`` items (only items a member has
evidence for), and a gradient-boosted classifier
(:class:`sklearn.ensemble.HistGradientBoostingClassifier`) estimates the probability that
the customer buys the item, from :data:`FEATURES`:

* each member's reciprocal rank ``1 / (5 + rank)`` (0 when it did not list the item) and
  the number of members that listed it;
* the item's popularity (``log(1 + buyers)``), the share of its buyers in the last quarter
  of the period (recency) and its learned rebuy rate (:func:`~recompra.recommend.repeat.
  rebuy_table`);
* the customer's own count of the item, and how *due* it is: ``log((days since they last
  bought it + 1) / (usual gap + 1))``, the usual gap being their own mean gap for it, else
  the item's median gap (:data:`NEVER_BOUGHT_DUE` when they never bought it: far below
  any real ratio, so a tree split separates it);
* whether the customer has bought in the item's category (product level).

The label is "bought in the validation window". :func:`cross_fitted_ranker_hits` scores
the validation customers the way :func:`~recompra.recommend.blend.cross_fitted_hits`
scores the blend: the classifier fitted on one half of the customers ranks the other
half, so that a model is never judged on the customers it was fitted on.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.ensemble import HistGradientBoostingClassifier
from threadpoolctl import threadpool_limits

from recompra.recommend.base import BaseRecommender, Exclude
from recompra.recommend.blend import BLEND_DEPTH, RANK_OFFSET
from recompra.recommend.metrics import Relevant
from recompra.recommend.purchases import item_column
from recompra.recommend.repeat import customer_item_stats, rebuy_table
from recompra.recommend.sql import Level
from recompra.recommend.topk import SparseScores

#: Pair features after the members' reciprocal ranks (see the module docstring).
FEATURES = (
    "members_listing",
    "log_buyers",
    "recent_share",
    "rebuy_rate",
    "own_count",
    "due_log_ratio",
    "category_match",
)
#: Customers a classifier is fitted on at most (a fixed random subset beyond): the fit
#: cost grows with the pairs, and a few thousand customers already give ~10^5 of them.
MAX_FIT_CUSTOMERS = 2_000
#: Due-ness of an item the customer never bought (real log ratios stay within about ±10).
NEVER_BOUGHT_DUE = -50.0
#: Share of the fitted span counted as "recent" (as the recent-popularity candidate).
_RECENT_FRACTION = 0.25


def new_classifier() -> HistGradientBoostingClassifier:
    """Return the unfitted pair classifier (small, regularised, deterministic).

    Fitted and applied on one OpenMP thread (``threadpool_limits``): the fits are small,
    and on a loaded machine idle OpenMP workers spinning cost more CPU than they save.
    """
    return HistGradientBoostingClassifier(
        max_iter=60,
        learning_rate=0.1,
        max_leaf_nodes=15,
        min_samples_leaf=50,
        l2_regularization=1.0,
        early_stopping=False,
        random_state=0,
    )


@dataclass(frozen=True)
class CandidatePairs:
    """The (customer row, item position) pairs a ranker scores, with their features."""

    rows: np.ndarray
    positions: np.ndarray
    features: np.ndarray

    def labels(self, relevant: Relevant, ids: np.ndarray) -> np.ndarray:
        """Return whether each pair's item is relevant to its customer."""
        items = ids[self.positions]
        valid = items < relevant.stride
        keys = self.rows * relevant.stride + np.where(valid, items, 0)
        return np.asarray(valid & np.isin(keys, relevant.keys))

    def subset(self, keep: np.ndarray) -> CandidatePairs:
        """Return the pairs where ``keep`` holds."""
        return CandidatePairs(self.rows[keep], self.positions[keep], self.features[keep])

    @classmethod
    def stack(cls, parts: Sequence[CandidatePairs], sizes: Sequence[int]) -> CandidatePairs:
        """Return the pairs of several validation windows of ``sizes`` rows, rows renumbered.

        Window ``j``'s rows follow those of the windows before it (as
        :meth:`~recompra.recommend.blend.ValidationLists.stack` stacks them); positions
        stay those of each window's own item index (labels are taken per window).
        """
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        return cls(
            rows=np.concatenate([p.rows + o for p, o in zip(parts, offsets, strict=True)]),
            positions=np.concatenate([p.positions for p in parts]),
            features=np.concatenate([p.features for p in parts]),
        )


def top_hits(
    rows: np.ndarray, scores: np.ndarray, labels: np.ndarray, n: int, k: int
) -> np.ndarray:
    """Return ``(n, k)`` flags: is the pair at each rank of a row's top ``k`` relevant?

    Rows are ranked by ``scores`` (highest first); equal scores keep the pairs' order.
    """
    order = np.lexsort((-scores, rows))
    sorted_rows = rows[order]
    rank = np.arange(len(order)) - np.searchsorted(sorted_rows, sorted_rows)
    keep = rank < k
    hits = np.zeros((n, k), dtype=bool)
    hits[sorted_rows[keep], rank[keep]] = labels[order][keep]
    return hits


def _fit_rows(rows: np.ndarray, customers: np.ndarray) -> np.ndarray:
    """Return the pairs of at most :data:`MAX_FIT_CUSTOMERS` of ``customers`` (fixed seed)."""
    if len(customers) > MAX_FIT_CUSTOMERS:
        customers = np.random.default_rng(0).choice(customers, MAX_FIT_CUSTOMERS, replace=False)
    return np.isin(rows, customers)


def fit_classifier(
    pairs: CandidatePairs, labels: np.ndarray, customers: np.ndarray
) -> HistGradientBoostingClassifier | None:
    """Fit the classifier on the pairs of ``customers`` (``None`` without both labels)."""
    keep = _fit_rows(pairs.rows, customers)
    if len(np.unique(labels[keep])) < 2:
        return None
    with threadpool_limits(limits=1, user_api="openmp"):
        return new_classifier().fit(pairs.features[keep], labels[keep])


def cross_fitted_ranker_hits(
    pairs: CandidatePairs, labels: np.ndarray, halves: tuple[np.ndarray, np.ndarray], k: int
) -> np.ndarray:
    """Return the ranker's ``(rows, k)`` validation hits, each half ranked by the other's model.

    ``halves`` splits the rows as the blend's cross-fitting does
    (:func:`~recompra.recommend.blend.customer_halves`); a half whose other half has no
    positive label gets no list (no hit), which only makes the ranker look worse.
    """
    n = len(halves[0]) + len(halves[1])
    hits = np.zeros((n, k), dtype=bool)
    for scored, learned in (halves, halves[::-1]):
        model = fit_classifier(pairs, labels, learned)
        mine = np.isin(pairs.rows, scored)
        if model is None or not mine.any():
            continue
        part = pairs.subset(mine)
        with threadpool_limits(limits=1, user_api="openmp"):
            scores = model.predict_proba(part.features)[:, 1]
        hits |= top_hits(part.rows, scores, labels[mine], n, k)
    return hits


class LearnedRanker(BaseRecommender):
    """Ranks the union of the members' lists by a fitted pair classifier (module docstring).

    Parameters
    ----------
    members
        Recommenders by name, already fitted on the same lines as this one.
    exclude
        History exclusion each member ranks with.
    classifier
        The fitted pair classifier (``None`` while only features are needed).
    depth
        Items each member contributes per customer.
    level
        ``"product"`` or ``"category"``.
    """

    def __init__(
        self,
        members: Mapping[str, BaseRecommender],
        exclude: Mapping[str, Exclude],
        classifier: Any = None,
        *,
        depth: int = BLEND_DEPTH,
        level: Level = "product",
    ) -> None:
        super().__init__(level)
        self.members = dict(members)
        self.exclude = dict(exclude)
        self.classifier = classifier
        self.depth = depth

    def _fit_model(self, lines: pd.DataFrame) -> None:
        column = item_column(self.level)
        ids = self.index_.ids
        start, end = lines["purchased_at"].min(), lines["purchased_at"].max()
        recent = lines.loc[lines["purchased_at"] >= end - (end - start) * _RECENT_FRACTION]
        recent_buyers = recent.groupby(column)["customer_id"].nunique().reindex(ids).fillna(0.0)
        self.recent_share_ = recent_buyers.to_numpy(np.float64) / np.maximum(self.popularity_, 1.0)
        rebuy = rebuy_table(lines, self.level).set_index("item_id")
        self.rebuy_rate_ = rebuy["rebuy_rate"].reindex(ids).fillna(0.0).to_numpy(np.float64)
        store_gap = float(rebuy["gap_days"].median()) if len(rebuy) else 30.0
        item_gap = rebuy["gap_days"].reindex(ids).fillna(store_gap).fillna(30.0)
        self.item_gap_ = item_gap.to_numpy(np.float64)
        self.stats_ = customer_item_stats(lines, self.index_, self.customers_, self.level)
        categories = lines.drop_duplicates(column)
        category = pd.Series(categories["category_id"].to_numpy(), index=categories[column])
        codes, self.item_category_ = np.unique(
            category.reindex(ids).fillna(-1).to_numpy(np.int64), return_inverse=True
        )
        bought = lines[["customer_id", "category_id"]].drop_duplicates()
        row = np.searchsorted(self.customers_, bought["customer_id"].to_numpy(np.int64))
        col = np.searchsorted(codes, bought["category_id"].to_numpy(np.int64))
        seen = bought["category_id"].to_numpy(np.int64)
        ok = (col < len(codes)) & (codes[np.minimum(col, len(codes) - 1)] == seen)
        self.customer_categories_ = sp.csr_matrix(
            (np.ones(int(ok.sum())), (row[ok], col[ok])), shape=(len(self.customers_), len(codes))
        )

    def with_members(
        self,
        members: Mapping[str, BaseRecommender],
        exclude: Mapping[str, Exclude],
        classifier: Any = None,
    ) -> LearnedRanker:
        """Return this fitted ranker over other ``members`` (fitted on the same lines).

        What :meth:`fit` learns (item rates, the customers' item statistics) does not
        depend on the members, so the rankers of the ``new`` and ``any`` lists share one
        fit (read only: the copy shares its arrays).
        """
        self._check_fitted()
        ranker = copy.copy(self)
        ranker.members, ranker.exclude = dict(members), dict(exclude)
        ranker.classifier = classifier
        return ranker

    def member_lists(self, customer_ids: np.ndarray) -> dict[str, np.ndarray]:
        """Return each member's evidence list (item positions, ``-1`` pads)."""
        out = {}
        for name, member in self.members.items():
            _, positions = member._top_k_positions(
                customer_ids, self.depth, self.exclude[name], evidence_only=True
            )
            mapped = self.index_.positions(
                np.where(positions >= 0, member.index_.ids[np.maximum(positions, 0)], -1)
            )
            out[name] = np.where(positions >= 0, mapped, -1)
        return out

    def pairs(self, customer_ids: np.ndarray, ranked: Mapping[str, np.ndarray]) -> CandidatePairs:
        """Return the candidate pairs of ``customer_ids`` from the members' ``ranked`` lists."""
        self._check_fitted()
        size = max(self.index_.size, 1)
        keys, member_of, gains = [], [], []
        for m, name in enumerate(self.members):
            positions = ranked[name]
            row, rank = np.nonzero(positions >= 0)
            keys.append(row.astype(np.int64) * size + positions[row, rank])
            member_of.append(np.full(len(row), m))
            gains.append(1.0 / (RANK_OFFSET + rank + 1.0))
        key = np.concatenate(keys) if keys else np.zeros(0, np.int64)
        unique, inverse = np.unique(key, return_inverse=True)
        n_members = len(self.members)
        features = np.zeros((len(unique), n_members + len(FEATURES)))
        if len(key):
            features[inverse, np.concatenate(member_of)] = np.concatenate(gains)
        rows, positions = unique // size, unique % size
        features[:, n_members:] = self._pair_features(customer_ids, rows, positions, features)
        return CandidatePairs(rows, positions, features)

    def _pair_features(
        self, customer_ids: np.ndarray, rows: np.ndarray, positions: np.ndarray, ranks: np.ndarray
    ) -> np.ndarray:
        n_members = len(self.members)
        ids = np.asarray(customer_ids, dtype=np.int64)
        at = np.clip(np.searchsorted(self.customers_, ids), 0, max(len(self.customers_) - 1, 0))
        known = (self.customers_[at] == ids) if len(self.customers_) else np.zeros(len(ids), bool)
        customer = at[rows]
        known_pair = known[rows]

        def lookup(matrix: sp.csr_matrix, cols: np.ndarray) -> np.ndarray:
            values = np.asarray(matrix[customer, cols]).ravel() if len(cols) else np.zeros(0)
            return np.where(known_pair, values, 0.0)

        times = lookup(self.stats_.times, positions)
        since = lookup(self.stats_.since_days, positions)  # days since + 1 (repeat.py)
        own_gap = lookup(self.stats_.own_gap_days, positions)
        expected = np.where(own_gap > 0, own_gap, self.item_gap_[positions])
        with np.errstate(divide="ignore", invalid="ignore"):
            due = np.where(times > 0, np.log(since / (expected + 1.0)), NEVER_BOUGHT_DUE)
        category = lookup(self.customer_categories_, self.item_category_[positions]) > 0
        return np.column_stack(
            [
                (ranks[:, :n_members] > 0).sum(axis=1),
                np.log1p(self.popularity_[positions]),
                self.recent_share_[positions],
                self.rebuy_rate_[positions],
                times,
                due,
                category.astype(np.float64),
            ]
        )

    def _sparse_scores(self, history: sp.csr_matrix, customer_ids: np.ndarray) -> SparseScores:
        # Only the members' listed pairs score (the rest of the catalogue scores 0 and
        # follows the tie-breaker), so the probabilities are sparse evidence with no prior:
        # ranked by topk.sparse_top, the same lists as the dense catalogue-wide scores.
        if self.classifier is None:
            raise RuntimeError("the learned ranker has no fitted classifier")
        pairs = self.pairs(customer_ids, self.member_lists(customer_ids))
        probability = np.zeros(len(pairs.rows))
        if len(pairs.rows):
            with threadpool_limits(limits=1, user_api="openmp"):
                probability = self.classifier.predict_proba(pairs.features)[:, 1]
        # Strictly positive: a listed pair is evidence even when the model doubts it.
        evidence = sp.csr_matrix(
            (np.maximum(probability, 1e-9), (pairs.rows, pairs.positions)),
            shape=(len(customer_ids), self.index_.size),
        )
        return SparseScores(evidence)
