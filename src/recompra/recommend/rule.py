"""Which method serves one list: the one-standard-error rule above the best baseline.

:func:`choose_list` decides from a list's pooled validation evidence
(:class:`PooledEvidence`, built by :func:`recompra.recommend.selection.choose_plan`).
The *leader* is the method with the best validation hit-rate (NDCG, then simplicity,
break ties). The list serves the *simplest* method (:data:`SIMPLICITY`, declared before
any back-test) whose hit-rate is within one standard error of the leader's
(:func:`within_noise`) **and not below the best baseline's** (:data:`BASELINES`); when
no method's hit-rate is above the best baseline's, that baseline serves and the reason
says so. The floor exists because the one-standard-error rule compares with the leader
only: alone, it could serve a simple method whose validation hit-rate is below a
baseline's (Olist, product level, new items, 2026-12-06: recent popularity 0.018 served
against the co-occurrence baseline's 0.021), which contradicts the product's promise to
serve the winner or say plainly that nothing beat the baseline.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from recompra.recommend.backtest import ListKind
from recompra.recommend.blend import (
    ValidationLists,
    cross_fitted_hits,
    customer_halves,
    fit_weights,
)
from recompra.recommend.metrics import hit_metrics

#: The baselines every served list is compared with (the issue's reference methods).
BASELINES = ("popularity", "cooccurrence", "own_history")

#: The ``any`` candidate built from the ``new`` list's choice (:class:`HistoryThenNew`).
HISTORY_THEN_NEW = "own_history_then_new"
#: The learning-to-rank candidate of the ``new`` and ``any`` lists (:mod:`.ranker`).
RANKER = "learned_ranker"
#: Every method a list may serve, simplest first (declared before any back-test: counts
#: per item, then per customer, then item x item statistics and per-item rates, then the
#: shrunk and the learned item x item models, then composites and blends). The rule of
#: :func:`choose_list` serves the first of them that is within the noise of the leader.
SIMPLICITY: tuple[str, ...] = (
    "popularity",
    "recent_popularity",
    "own_history",
    "category_popularity",
    "cooccurrence",
    "cooccurrence_lift",
    "replenishment",
    "next_best_offer",
    "ease",
    HISTORY_THEN_NEW,
    "blend",
    RANKER,
)


@dataclass(frozen=True)
class ListChoice:
    """What serves one list and why.

    Attributes
    ----------
    kind
        ``new``, ``any`` or ``cold_start``.
    method
        A candidate name or ``"blend"``.
    weights
        Blend weights per candidate: of the served blend, or of the new-items blend that
        pads :data:`HISTORY_THEN_NEW` (empty for a single method).
    customers
        Validation rows the choice was made on, one per (customer, window).
    validation
        Validation metrics @k per method (every candidate, and ``blend`` when learned).
    reason
        The choice in one sentence, with the numbers.
    learned
        The blend weights learned on this list's validation windows, served or not.
    ranker
        The pair classifier learned on the validation windows, served or not (``None``
        when there was nothing to learn; not written to the manifest).
    """

    kind: ListKind
    method: str
    weights: dict[str, float]
    customers: int
    validation: dict[str, dict[str, float]]
    reason: str
    learned: dict[str, float] = field(default_factory=dict)
    ranker: Any = field(default=None, compare=False, repr=False)


def _simplicity(name: str) -> int:
    return SIMPLICITY.index(name) if name in SIMPLICITY else len(SIMPLICITY)


def within_noise(leader: np.ndarray, other: np.ndarray) -> bool:
    """Return whether ``other``'s hit-rate is within one standard error of ``leader``'s.

    The one-standard-error rule (Breiman et al. 1984, *Classification and Regression
    Trees* 3.4.3; Hastie, Tibshirani and Friedman, *The Elements of Statistical
    Learning* 7.10), paired: both lists are scored on the same validation customers,
    so the error is that of the per-customer difference, ``d = hit_leader - hit_other``,
    and ``other`` is within the noise when ``mean(d) <= sem(d)``
    (:func:`scipy.stats.sem`).
    """
    difference = np.asarray(leader, dtype=np.float64) - np.asarray(other, dtype=np.float64)
    if len(difference) < 2 or not difference.any():
        return bool(difference.sum() <= 0)
    return bool(difference.mean() <= stats.sem(difference))


@dataclass(frozen=True)
class PooledEvidence:
    """One list's validation evidence, pooled over the rolling-origin windows.

    One row per (customer, window): a customer who bought in two windows counts twice,
    each time scored by the candidates fitted before that window.

    Attributes
    ----------
    customers
        Customer id of each row (the cross-fitting halves split by customer).
    counts
        Relevant items of each row.
    hits
        Per method, ``(rows, k)`` flags: is its item at each rank relevant?
    lists
        The blend members' evidence lists (``None`` for ``cold_start``: no blend).
    """

    customers: np.ndarray
    counts: np.ndarray
    hits: dict[str, np.ndarray]
    lists: ValidationLists | None = None


def choose_list(
    kind: ListKind,
    evidence: PooledEvidence,
    k: int,
    scored: Mapping[str, np.ndarray] | None = None,
) -> ListChoice:
    """Choose what serves one list from its pooled validation evidence.

    ``scored`` holds the ``(rows, k)`` cross-fitted validation hits of further candidates
    (the learned ranker). The *leader* is the method with the best validation hit-rate
    (NDCG, then simplicity, break ties), the blend and the ranker scored cross-fitted.
    The list serves the simplest method (:data:`SIMPLICITY`) within one standard error
    of the leader (:func:`within_noise`, on the per-(customer, window) differences)
    whose hit-rate is at least the best baseline's; the leader itself when no simpler one
    is; and the best baseline when no method's hit-rate is above it.
    """
    n = len(evidence.customers)
    hits = dict(evidence.hits)
    weights: dict[str, float] = {}
    if n and evidence.lists is not None:
        # Weights from every validation row; the score that decides is cross-fitted.
        weights, _ = fit_weights(evidence.lists, k)
        halves = customer_halves(evidence.customers)
        hits["blend"] = cross_fitted_hits(evidence.lists, k, halves)
    hits.update(scored or {})
    scores = {name: hit_metrics(h, evidence.counts, k) for name, h in hits.items()}
    if n == 0:
        return ListChoice(
            kind, "popularity", {}, 0, scores, "no validation customers: best sellers served"
        )
    method, reason = _rule(scores, {name: np.asarray(h.any(axis=1)) for name, h in hits.items()})
    learned = {name: w for name, w in weights.items() if w > 0}
    return ListChoice(
        kind,
        method,
        learned if method == "blend" else {},
        n,
        scores,
        reason.format(k=k, rows=f"{n:,} customer-windows"),
        learned,
    )


def _rule(
    scores: Mapping[str, Mapping[str, float]], hit_any: Mapping[str, np.ndarray]
) -> tuple[str, str]:
    """Return the method the rule serves and its reason (``{k}`` and ``{rows}`` to fill)."""
    simplest_first = sorted(scores, key=_simplicity)

    def rank(name: str) -> tuple[float, float]:
        return scores[name]["hit_rate"], scores[name]["ndcg"]

    leader = max(simplest_first, key=rank)
    baselines = [name for name in simplest_first if name in BASELINES]
    best = max(baselines, key=rank) if baselines else None
    floor = scores[best]["hit_rate"] if best is not None else -np.inf
    rate = {name: scores[name]["hit_rate"] for name in scores}
    within = [m for m in simplest_first if within_noise(hit_any[leader], hit_any[m])]
    if best is not None and rate[leader] <= floor:
        # Nothing is above the best baseline (at most tied with it): the baseline serves.
        tie = f"; the leader {leader} ties it on hit-rate" if leader != best else ""
        return best, (
            f"nothing beats the baseline {best} on the validation windows "
            f"(hit-rate@{{k}} {floor:.3f}, {{rows}}{tie}): the baseline is served"
        )
    # The leader is above the floor, so the search always ends (at the leader at last).
    method = next(m for m in within if rate[m] >= floor)
    # Simpler methods the rule of the leader alone would serve, barred by the floor.
    barred = [m for m in within[: within.index(method)] if rate[m] < floor]
    floor_said = f"best baseline {best} {floor:.3f}" if best is not None else "no baseline"
    if barred:
        floor_said += (
            "; "
            + ", ".join(f"{m} {rate[m]:.3f}" for m in barred)
            + (
                " within one standard error of the leader but below the best baseline: "
                "may not serve"
            )
        )
    if method == leader:
        return method, (
            f"{method} wins the validation windows: hit-rate@{{k}} {rate[method]:.3f} on "
            f"{{rows}} ({floor_said}), beyond one standard error of every simpler method "
            "not below the best baseline"
        )
    against = ": the baseline is served" if method in BASELINES else ""
    return method, (
        f"{method} serves: the simplest method not below the best baseline and within one "
        f"standard error of the validation leader {leader} (hit-rate@{{k}} "
        f"{rate[method]:.3f} vs {rate[leader]:.3f} on {{rows}}; {floor_said}){against}"
    )
