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

from collections.abc import Mapping

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recompra.recommend.metrics import Relevant, ranking_metrics
from recompra.recommend.recommenders import BaseRecommender, Exclude
from recompra.recommend.sql import Level

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


def top_of(fused: sp.csr_matrix, k: int, tie_break: np.ndarray) -> np.ndarray:
    """Return the ``k`` best positions per row of a sparse score matrix (``-1`` pads)."""
    coo = fused.tocoo()
    score = coo.data + 1e-9 * tie_break[coo.col]
    order = np.lexsort((coo.col, -score, coo.row))
    row, col = coo.row[order], coo.col[order]
    rank = np.arange(len(row)) - np.searchsorted(row, row)
    top = rank < k
    out = np.full((fused.shape[0], k), -1, dtype=np.int64)
    out[row[top], rank[top]] = col[top]
    return out


def blended_lists(
    ranked: Mapping[str, np.ndarray],
    weights: Mapping[str, float],
    ids: np.ndarray,
    k: int,
    pad_with: str = "popularity",
) -> np.ndarray:
    """Return the blended top ``k`` item ids of validation lists (``-1`` pads).

    Short lists are padded by the ``pad_with`` member, as serving pads them with the
    best sellers: a tiny weight ranks its items below every blended one.
    """
    padded = dict(weights)
    if pad_with in ranked:
        padded[pad_with] = max(padded.get(pad_with, 0.0), _PAD_WEIGHT)
    positions = top_of(fuse(ranked, padded, len(ids)), k, np.zeros(len(ids)))
    return np.where(positions >= 0, ids[np.maximum(positions, 0)], -1)


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

    def measure(weights: Mapping[str, float]) -> tuple[float, float, dict[str, float]]:
        metrics = ranking_metrics(blended_lists(ranked, weights, ids, k), relevant, k)
        return metrics["hit_rate"], metrics["ndcg"], metrics

    singles = {name: measure({name: 1.0}) for name in ranked}
    best_name = max(singles, key=lambda name: singles[name][:2])
    weights = dict.fromkeys(ranked, 0.0)
    weights[best_name] = 1.0
    best = singles[best_name]
    for _ in range(passes):
        improved = False
        for name in ranked:
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


def cross_fitted_metrics(
    ranked: Mapping[str, np.ndarray], relevant: Relevant, ids: np.ndarray, k: int
) -> dict[str, float]:
    """Return the blend's validation metrics with weights learned on the *other* half.

    The customers are split in two (alternate rows); each half is scored with the
    weights :func:`learn_weights` finds on the other half. Unlike the in-sample score,
    this can lose to the best single member, which is the point: a blend is served only
    when it wins this way.
    """
    n = len(relevant.customers)
    halves = (np.arange(0, n, 2), np.arange(1, n, 2))
    recs = np.full((n, k), -1, dtype=np.int64)
    for scored, learned in (halves, halves[::-1]):
        if len(scored) == 0 or len(learned) == 0:
            continue
        weights, _ = learn_weights(
            {name: p[learned] for name, p in ranked.items()}, relevant.take(learned), ids, k
        )
        recs[scored] = blended_lists(
            {name: p[scored] for name, p in ranked.items()}, weights, ids, k
        )
    return ranking_metrics(recs, relevant, k)


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
                member.fit(lines)

    def _scores(self, history: sp.csr_matrix, customer_ids: np.ndarray) -> np.ndarray:
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
        return np.asarray(fuse(ranked, self.weights, self.index_.size).toarray())
