"""A learned blend of recommenders: weighted reciprocal-rank fusion.

Each member ranks its own top ``depth`` items for a customer; the blend scores an item
``sum_m w_m / (offset + rank_m)`` over the members that listed it (rank from 1). Ranks,
not raw scores, are fused because the members' scales have nothing in common (cosine
sums, probabilities, regression weights). The weights are learned on a validation slice
by :func:`learn_weights` (coordinate ascent over a small grid, maximising hit-rate@k
with NDCG breaking ties), so a store where people re-buy gets a heavy restocking
weight and a store of one-off purchases a heavy co-occurrence weight.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recompra.recommend.base import BaseRecommender, Exclude
from recompra.recommend.metrics import Relevant, hit_matrix, hit_metrics
from recompra.recommend.sql import Level
from recompra.recommend.topk import SparseScores

#: Added to every rank: a smaller offset makes the blend trust each member's first items more.
RANK_OFFSET = 5.0
#: Items each member contributes to a blend.
BLEND_DEPTH = 30
#: Weight of the padding member: below any grid weight, so it only fills empty slots.
_PAD_WEIGHT = 1e-6
#: Weights tried per member by :func:`learn_weights`.
WEIGHT_GRID = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0)


def fuse(
    ranked: Mapping[str, np.ndarray], weights: Mapping[str, float], n_items: int
) -> sp.csr_matrix:
    """Return the fused scores (customers x items, sparse) of members' ranked positions.

    Parameters
    ----------
    ranked
        Per member, ``(customers, depth)`` item positions best first (``-1`` pads).
    weights
        Per member weight; members without one (or with 0) are left out.
    n_items
        Catalogue size (columns).
    """
    rows, cols, values = [], [], []
    for name, positions in ranked.items():
        weight = float(weights.get(name, 0.0))
        if weight <= 0.0:
            continue
        n, depth = positions.shape
        row = np.repeat(np.arange(n), depth)
        col = positions.ravel()
        gain = np.tile(weight / (RANK_OFFSET + np.arange(1, depth + 1)), n)
        keep = col >= 0
        rows.append(row[keep])
        cols.append(col[keep])
        values.append(gain[keep])
    n_rows = next(iter(ranked.values())).shape[0] if ranked else 0
    if not rows:
        return sp.csr_matrix((n_rows, n_items))
    fused = sp.csr_matrix(
        (np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))),
        shape=(n_rows, n_items),
    )
    fused.sum_duplicates()
    return fused


@dataclass(frozen=True)
class ValidationLists:
    """Members' validation lists on each customer's own, compact candidate set.

    Learning weights scores a few hundred blends of the same lists. Fusing each trial over
    the whole catalogue (a sparse matrix built, summed and sorted per trial) made that the
    slowest step of a refresh; yet only items some member listed can enter a blend. So the
    candidates of each customer are numbered once, in item-position order (ties go to the
    lower position, as in serving), and a trial is a weighted sum over small dense rows.

    Attributes
    ----------
    members
        Member names, in the order of ``slots``.
    slots
        ``(members, customers, depth)`` candidate slot of each member's ranked item (``-1``
        pads).
    hits
        ``(customers, width)`` whether each candidate slot holds a relevant item.
    counts
        Relevant items per customer.
    """

    members: tuple[str, ...]
    slots: np.ndarray
    hits: np.ndarray
    counts: np.ndarray

    @classmethod
    def build(
        cls, ranked: Mapping[str, np.ndarray], relevant: Relevant, ids: np.ndarray
    ) -> ValidationLists:
        """Index members' ``(customers, depth)`` positions (``-1`` pads) by candidate slot."""
        members = tuple(ranked)
        n = len(relevant.customers)
        depth = max((p.shape[1] for p in ranked.values()), default=0)
        rows_of, cols_of, cells_of = [], [], []
        for m, positions in enumerate(ranked.values()):
            row, rank = np.nonzero(positions >= 0)
            rows_of.append(row)
            cols_of.append(positions[row, rank])
            cells_of.append((m * n + row) * depth + rank)
        row = np.concatenate(rows_of) if rows_of else np.zeros(0, np.int64)
        col = np.concatenate(cols_of) if cols_of else np.zeros(0, np.int64)
        cell = np.concatenate(cells_of) if cells_of else np.zeros(0, np.int64)
        order = np.lexsort((col, row))
        row, col, cell = row[order], col[order], cell[order]
        first_seen = np.ones(len(row), dtype=bool)
        first_seen[1:] = (row[1:] != row[:-1]) | (col[1:] != col[:-1])
        candidate = np.cumsum(first_seen) - 1
        cand_row, cand_col = row[first_seen], col[first_seen]
        cand_slot = np.arange(len(cand_row)) - np.searchsorted(cand_row, cand_row)
        width = int(cand_slot.max()) + 1 if len(cand_slot) else 0
        slots = np.full(len(members) * n * depth, -1, dtype=np.int64)
        slots[cell] = cand_slot[candidate]
        items = np.full((n, width), -1, dtype=np.int64)
        items[cand_row, cand_slot] = ids[cand_col]
        return cls(
            members=members,
            slots=slots.reshape(len(members), n, depth),
            hits=hit_matrix(items, relevant),
            counts=relevant.counts,
        )

    @classmethod
    def stack(cls, parts: Sequence[ValidationLists]) -> ValidationLists:
        """Return the lists of several validation windows, one row per (customer, window).

        Slots are numbered per row, so the parts only need the same members and depth;
        the narrower candidate sets are padded with slots that never hit.
        """
        width = max(part.hits.shape[1] for part in parts)
        hits = [np.pad(part.hits, ((0, 0), (0, width - part.hits.shape[1]))) for part in parts]
        return cls(
            members=parts[0].members,
            slots=np.concatenate([part.slots for part in parts], axis=1),
            hits=np.concatenate(hits),
            counts=np.concatenate([part.counts for part in parts]),
        )

    def take(self, rows: np.ndarray) -> ValidationLists:
        """Return the lists of the customers at ``rows``."""
        return ValidationLists(
            self.members, self.slots[:, rows], self.hits[rows], self.counts[rows]
        )

    def metrics(self, weights: Mapping[str, float], k: int) -> dict[str, float]:
        """Return the metrics @k of the blend with ``weights``."""
        return hit_metrics(self.top_hits(weights, k), self.counts, k)

    def top_hits(
        self, weights: Mapping[str, float], k: int, pad_with: str = "popularity"
    ) -> np.ndarray:
        """Return ``(customers, k)`` flags: is the blend's item at each rank relevant?

        Short lists are padded by the ``pad_with`` member, as serving pads them with the
        best sellers: a tiny weight ranks its items below every blended one.
        """
        padded = dict(weights)
        if pad_with in self.members:
            padded[pad_with] = max(padded.get(pad_with, 0.0), _PAD_WEIGHT)
        n, width = self.hits.shape
        depth = self.slots.shape[2]
        gain = 1.0 / (RANK_OFFSET + np.arange(1, depth + 1))
        cell_base = (np.arange(n, dtype=np.int64) * width)[:, None]
        total = np.zeros(n * width)
        for m, name in enumerate(self.members):
            weight = float(padded.get(name, 0.0))
            if weight <= 0.0:
                continue
            listed = self.slots[m] >= 0
            total += np.bincount(
                (cell_base + self.slots[m])[listed],
                weights=np.broadcast_to(weight * gain, listed.shape)[listed],
                minlength=n * width,
            )
        scores = total.reshape(n, width)
        # Stable: among equal scores the lower slot (item position) comes first.
        best = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        chosen = np.take_along_axis(scores, best, axis=1) > 0.0
        hits = np.zeros((n, k), dtype=bool)
        hits[:, : best.shape[1]] = np.take_along_axis(self.hits, best, axis=1) & chosen
        return hits


def fit_weights(
    lists: ValidationLists, k: int, passes: int = 2
) -> tuple[dict[str, float], dict[str, float]]:
    """Return the weights :func:`learn_weights` learns on ``lists``, and their metrics."""

    def measure(weights: Mapping[str, float]) -> tuple[float, float, dict[str, float]]:
        metrics = lists.metrics(weights, k)
        return metrics["hit_rate"], metrics["ndcg"], metrics

    singles = {name: measure({name: 1.0}) for name in lists.members}
    best_name = max(singles, key=lambda name: singles[name][:2])
    weights = dict.fromkeys(lists.members, 0.0)
    weights[best_name] = 1.0
    best = singles[best_name]
    for _ in range(passes):
        improved = False
        for name in lists.members:
            for value in WEIGHT_GRID:
                if value == weights[name]:
                    continue
                trial = {**weights, name: value}
                if not any(trial.values()):
                    continue
                result = measure(trial)
                if result[:2] > best[:2]:
                    weights, best, improved = trial, result, True
        if not improved:
            break
    return weights, best[2]


def learn_weights(
    ranked: Mapping[str, np.ndarray],
    relevant: Relevant,
    ids: np.ndarray,
    k: int,
    *,
    passes: int = 2,
) -> tuple[dict[str, float], dict[str, float]]:
    """Learn blend weights on validation lists by coordinate ascent over :data:`WEIGHT_GRID`.

    Starts from the best single member (weight 1, the others 0) and changes one weight
    at a time while hit-rate@k (then NDCG@k) improves, so the result is never worse on
    the lists it learned from than the best member alone (which makes that score
    optimistic: :func:`cross_fitted_metrics` gives an honest one).

    Parameters
    ----------
    ranked
        Per member, validation ``(customers, depth)`` positions (rows as in ``relevant``).
    relevant
        What the validation customers bought in the validation period.
    ids
        Item id of each position.
    k
        List length scored.
    passes
        Rounds over the members.

    Returns
    -------
    tuple[dict, dict]
        The weights per member and the (in-sample) validation metrics of the blend.
    """
    return fit_weights(ValidationLists.build(ranked, relevant, ids), k, passes)


def customer_halves(customers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the rows of the two cross-fitting halves, split by customer.

    Customers alternate between the halves in id order (alternate rows of one sorted
    validation window); with several windows every row of a customer falls in the same
    half, so no customer is scored by a model fitted on any of their windows.
    """
    _, rank = np.unique(np.asarray(customers), return_inverse=True)
    half = rank.ravel() % 2
    return np.flatnonzero(half == 0), np.flatnonzero(half == 1)


def cross_fitted_hits(
    lists: ValidationLists, k: int, halves: tuple[np.ndarray, np.ndarray]
) -> np.ndarray:
    """Return the blend's ``(rows, k)`` validation hits, weights learned on the *other* half.

    Each half of the rows (:func:`customer_halves`) is scored with the weights
    :func:`learn_weights` finds on the other half. Unlike the in-sample score, this can
    lose to the best single member, which is the point: a blend is served only when it
    wins this way.
    """
    hits = np.zeros((len(lists.counts), k), dtype=bool)
    for scored, learned in (halves, halves[::-1]):
        if len(scored) == 0 or len(learned) == 0:
            continue
        weights, _ = fit_weights(lists.take(learned), k)
        hits[scored] = lists.take(scored).top_hits(weights, k)
    return hits


def cross_fitted_metrics(
    ranked: Mapping[str, np.ndarray], relevant: Relevant, ids: np.ndarray, k: int
) -> dict[str, float]:
    """Return the metrics @k of :func:`cross_fitted_hits` on one validation window."""
    lists = ValidationLists.build(ranked, relevant, ids)
    hits = cross_fitted_hits(lists, k, customer_halves(relevant.customers))
    return hit_metrics(hits, relevant.counts, k)


class Blend(BaseRecommender):
    """Weighted reciprocal-rank fusion of member recommenders (see the module docstring).

    Parameters
    ----------
    members
        Recommenders by name (fitted by :meth:`fit` on the same lines).
    weights
        Weight per member (learned by :func:`learn_weights`).
    exclude
        History exclusion each member ranks with (default: its ``default_exclude``).
    depth
        Items each member contributes per customer.
    level
        ``"product"`` or ``"category"``.
    fit_members
        Whether :meth:`fit` fits the members (``False``: they are already fitted on the
        same lines, e.g. shared with other lists).
    """

    def __init__(
        self,
        members: Mapping[str, BaseRecommender],
        weights: Mapping[str, float],
        *,
        exclude: Mapping[str, Exclude] | None = None,
        depth: int = BLEND_DEPTH,
        level: Level = "product",
        fit_members: bool = True,
    ) -> None:
        super().__init__(level)
        self.members = dict(members)
        self.weights = dict(weights)
        self.exclude = dict(exclude or {})
        self.depth = depth
        self.fit_members = fit_members

    def _fit_model(self, lines: pd.DataFrame) -> None:
        if not self.fit_members:
            return
        for name, member in self.members.items():
            if self.weights.get(name, 0.0) > 0.0:
                member.fit(lines, self.shared_history())

    def _sparse_scores(self, history: sp.csr_matrix, customer_ids: np.ndarray) -> SparseScores:
        # The fused scores are sparse by construction (at most depth items per member and
        # customer), so they are ranked as sparse evidence with no prior: the items no
        # member listed score 0 and follow the tie-breaker, as on the dense path.
        ranked = {}
        for name, member in self.members.items():
            if self.weights.get(name, 0.0) <= 0.0:
                continue
            mode = self.exclude.get(name, member.default_exclude)
            _, positions = member._top_k_positions(
                customer_ids, self.depth, mode, evidence_only=True
            )
            # Members fitted on the same lines share the item index; map by id to be safe.
            mapped = self.index_.positions(
                np.where(positions >= 0, member.index_.ids[np.maximum(positions, 0)], -1)
            )
            ranked[name] = np.where(positions >= 0, mapped, -1)
        if not ranked:  # no weighted member (nothing learned): only the tie-breaker ranks
            return SparseScores(sp.csr_matrix((history.shape[0], self.index_.size)))
        return SparseScores(fuse(ranked, self.weights, self.index_.size))


class HistoryThenNew(BaseRecommender):
    """What the customer bought (own-history order), then a discovery list fills the rest.

    The "any item" list of a store whose customers re-buy: the own-history baseline
    already leads with the history, but pads a short history with the best sellers;
    here the padding is the list the store's back-test chose for items new to the
    customer, so wherever that list beats the best sellers on new items this list beats
    own history on any item. Both members must be fitted on the same lines as this one.

    Parameters
    ----------
    history
        Ranks the history (e.g. :class:`~recompra.recommend.replenishment.OwnHistory`).
    discovery
        Ranks items new to the customer (scored with ``exclude="all"``).
    level
        ``"product"`` or ``"category"``.
    """

    default_exclude: Exclude = "none"

    def __init__(
        self, history: BaseRecommender, discovery: BaseRecommender, *, level: Level = "product"
    ) -> None:
        super().__init__(level)
        self.history = history
        self.discovery = discovery

    def _top_k_positions(
        self, customer_ids: np.ndarray, k: int, exclude: Exclude, *, evidence_only: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        self._check_fitted()
        own_ids, own_pos = self.history._top_k_positions(
            customer_ids, k, "none", evidence_only=True
        )
        new_ids, new_pos = self.discovery._top_k_positions(
            customer_ids, k, "all", evidence_only=evidence_only
        )
        # The history first, in its order; the discovery items after it (disjoint sets).
        order = np.argsort(np.concatenate([own_ids, new_ids], axis=1) < 0, axis=1, kind="stable")
        ids = np.take_along_axis(np.concatenate([own_ids, new_ids], axis=1), order, axis=1)
        pos = np.take_along_axis(np.concatenate([own_pos, new_pos], axis=1), order, axis=1)
        return ids[:, :k], pos[:, :k]
