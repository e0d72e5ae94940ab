"""Per-store model selection: the method (or blend) that wins the store's own back-test.

:func:`choose_plan` splits the lines it is given in time (:mod:`recompra.recommend.
backtest`): the candidates are fitted before the *validation slice* and scored on it,
separately for the three lists (:data:`~recompra.recommend.backtest.LIST_KINDS`). For
the ``new`` and ``any`` lists a blend of the candidates is learned on the same slice
(:func:`~recompra.recommend.blend.learn_weights`), and scored cross-fitted (weights
learned on one half of the validation customers, scored on the other) so that it is
not favoured by having been tuned on the same customers; for ``cold_start`` customers, who
have no history, only the popularity rankings compete. Each list is then served by the
*simplest* method (:data:`SIMPLICITY`, declared before any back-test) whose validation
hit-rate is within one standard error of the best one's (the one-standard-error rule,
:func:`within_noise`): a more complex method must earn its place beyond the noise of
the validation slice, and a tie serves the simpler. The plan records why: the
validation metrics of the winner next to every candidate and baseline.

Candidates (:data:`CANDIDATES`): ``popularity`` (distinct buyers), ``recent_popularity``
(buyers of the last quarter of the period), ``cooccurrence`` (same-order cosine) and
``cooccurrence_lift``, ``ease`` (closed-form linear item-item, its ``l2`` chosen here),
``next_best_offer`` (smoothed customer-level co-purchase with category affinity and
restocking), ``replenishment`` (learned per-item rebuy rates timed per customer) and
``own_history``; for ``new`` and ``any`` also the blend and :data:`RANKER`, a pair
classifier over the members' lists (:mod:`recompra.recommend.ranker`), cross-fitted too.
The *baselines* the served lists must beat are :data:`BASELINES`.
Implicit-feedback matrix factorisation (ALS, ``implicit``) was measured as a candidate
and is not one: it never won a list and moved no served blend beyond the noise
(``docs/recommend.md``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from recompra.recommend.backtest import LIST_KINDS, ListKind, Targets, time_split
from recompra.recommend.blend import (
    BLEND_DEPTH,
    Blend,
    HistoryThenNew,
    cross_fitted_hits,
    learn_weights,
)
from recompra.recommend.ease import Ease
from recompra.recommend.metrics import Relevant, hit_matrix, hit_metrics, ranking_metrics
from recompra.recommend.ranker import LearnedRanker, cross_fitted_ranker_hits, fit_classifier
from recompra.recommend.recommenders import (
    BaseRecommender,
    Exclude,
    ItemCooccurrence,
    NextBestOffer,
    Popularity,
)
from recompra.recommend.replenishment import OwnHistory, Replenishment
from recompra.recommend.sql import Level

#: The baselines every served list is compared with (the issue's reference methods).
BASELINES = ("popularity", "cooccurrence", "own_history")
#: EASE penalties tried on the validation slice.
EASE_L2_GRID = (10.0, 100.0, 500.0)
#: Candidates that suggest products the customer has not bought yet.
_DISCOVERY = (
    "popularity",
    "recent_popularity",
    "cooccurrence",
    "cooccurrence_lift",
    "ease",
    "next_best_offer",
)
#: Candidates competing (and blended) for each list; "any" may also suggest a repurchase.
MEMBERS: dict[ListKind, tuple[str, ...]] = {
    "new": _DISCOVERY,
    "any": (*_DISCOVERY, "replenishment", "own_history"),
    "cold_start": ("popularity", "recent_popularity"),
}


def candidates(level: Level, ease_l2: float = 100.0) -> dict[str, Callable[[], BaseRecommender]]:
    """Return fresh-model factories of every candidate by name."""
    return {
        "popularity": lambda: Popularity(level),
        "recent_popularity": lambda: Popularity(level, recent_fraction=0.25),
        "cooccurrence": lambda: ItemCooccurrence(level),
        "cooccurrence_lift": lambda: ItemCooccurrence(level, measure="lift"),
        "ease": lambda: Ease(level, l2=ease_l2),
        "next_best_offer": lambda: NextBestOffer(level),
        "replenishment": lambda: Replenishment(level),
        "own_history": lambda: OwnHistory(level),
    }


#: Candidate names, in display order.
CANDIDATES: tuple[str, ...] = tuple(candidates("product"))
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
    "cooccurrence",
    "cooccurrence_lift",
    "replenishment",
    "next_best_offer",
    "ease",
    HISTORY_THEN_NEW,
    "blend",
    RANKER,
)


def list_exclude(kind: ListKind, model: BaseRecommender) -> Exclude:
    """Return the history exclusion of ``model`` for a list: ``new`` excludes the history."""
    return "all" if kind == "new" else model.default_exclude


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
        Validation customers the choice was made on.
    validation
        Validation metrics @k per method (every candidate, and ``blend`` when learned).
    reason
        The choice in one sentence, with the numbers.
    learned
        The blend weights learned on this list's validation slice, served or not.
    ranker
        The fitted pair classifier when :data:`RANKER` serves (not written to the manifest).
    """

    kind: ListKind
    method: str
    weights: dict[str, float]
    customers: int
    validation: dict[str, dict[str, float]]
    reason: str
    learned: dict[str, float] = field(default_factory=dict)
    ranker: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class ServingPlan:
    """The per-store choice of the three lists (see :func:`choose_plan`)."""

    level: Level
    k: int
    ease_l2: float
    validation_cutoff: str
    choices: dict[ListKind, ListChoice] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the plan as JSON-ready values (written to the refresh manifest)."""
        # The fitted classifier is not JSON; the manifest names the method that serves.
        plain = {kind: replace(choice, ranker=None) for kind, choice in self.choices.items()}
        out = asdict(replace(self, choices=plain))
        for choice in out["choices"].values():
            del choice["ranker"]
        return out


def serving_model(
    choice: ListChoice, fitted: Mapping[str, BaseRecommender], lines: pd.DataFrame
) -> tuple[BaseRecommender, Exclude]:
    """Return the model serving a list as ``choice`` says, and its history exclusion.

    ``fitted`` holds every method the choice needs (:func:`methods_needed`), fitted on
    ``lines``; a blend or :data:`HISTORY_THEN_NEW` (own history, then the new-items blend
    of ``choice.weights``) is assembled from them.
    """
    level = next(iter(fitted.values())).level
    kind: ListKind = "new" if choice.method == HISTORY_THEN_NEW else choice.kind
    if choice.method == RANKER:
        ranker = learned_ranker(fitted, kind, choice.ranker).fit(lines)
        return ranker, "all" if kind == "new" else "none"
    if choice.method in ("blend", HISTORY_THEN_NEW):
        members = {name: fitted[name] for name in choice.weights}
        excludes = {name: list_exclude(kind, m) for name, m in members.items()}
        blend = Blend(
            members,
            choice.weights,
            exclude=excludes,
            depth=BLEND_DEPTH,
            level=level,
            fit_members=False,
        ).fit(lines)
        if choice.method == HISTORY_THEN_NEW:
            history = fitted["own_history"]
            return HistoryThenNew(history, blend, level=level).fit(lines), "none"
        return blend, "all" if kind == "new" else "none"
    model = fitted[choice.method]
    return model, list_exclude(kind, model)


def methods_needed(choices: Mapping[ListKind, ListChoice]) -> set[str]:
    """Return the candidates :func:`serving_model` needs fitted for ``choices``."""
    needed: set[str] = set()
    for choice in choices.values():
        if choice.method == HISTORY_THEN_NEW:
            needed |= {"own_history"} | set(choice.weights)
        elif choice.method == "blend":
            needed |= set(choice.weights)
        elif choice.method == RANKER:
            needed |= set(MEMBERS[choice.kind])
        else:
            needed.add(choice.method)
    return needed


def learned_ranker(
    fitted: Mapping[str, BaseRecommender], kind: ListKind, classifier: Any = None
) -> LearnedRanker:
    """Return the (unfitted) :data:`RANKER` of a list over its fitted members."""
    members = {name: fitted[name] for name in MEMBERS[kind]}
    excludes = {name: list_exclude(kind, m) for name, m in members.items()}
    level = next(iter(members.values())).level
    return LearnedRanker(members, excludes, classifier, level=level)


def _lists(
    models: dict[str, BaseRecommender], kind: ListKind, relevant: Relevant, k: int
) -> dict[str, np.ndarray]:
    """Return each member's validation top ``k``, as it would be served alone."""
    out = {}
    for name in MEMBERS[kind]:
        model = models[name]
        _, out[name] = model._top_k_positions(relevant.customers, k, list_exclude(kind, model))
    return out


def _evidence_lists(
    models: dict[str, BaseRecommender], kind: ListKind, relevant: Relevant
) -> dict[str, np.ndarray]:
    """Return each member's validation ranking for the blend (``BLEND_DEPTH`` deep)."""
    out = {}
    for name in MEMBERS[kind]:
        model = models[name]
        _, positions = model._top_k_positions(
            relevant.customers, BLEND_DEPTH, list_exclude(kind, model), evidence_only=True
        )
        out[name] = positions
    return out


def _ids(positions: np.ndarray, ids: np.ndarray) -> np.ndarray:
    return np.where(positions >= 0, ids[np.maximum(positions, 0)], -1)


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


def choose_list(
    kind: ListKind,
    padded: dict[str, np.ndarray],
    ranked: dict[str, np.ndarray],
    relevant: Relevant,
    ids: np.ndarray,
    k: int,
    scored: Mapping[str, np.ndarray] | None = None,
) -> ListChoice:
    """Choose what serves one list from its members' validation lists (positions).

    ``padded`` holds each candidate's top ``k`` as served alone, ``ranked`` the blend
    members' evidence lists, ``scored`` the ``(customers, k)`` cross-fitted validation
    hits of further candidates (the learned ranker). The *leader* is the method with the
    best validation hit-rate (NDCG, then simplicity, break ties), the blend and the ranker
    scored cross-fitted; the list
    serves the simplest method (:data:`SIMPLICITY`) within one standard error of the
    leader (:func:`within_noise`), the leader itself when no simpler one is.
    """
    n = len(relevant.customers)
    hits = {name: hit_matrix(_ids(p, ids)[:, :k], relevant) for name, p in padded.items()}
    weights: dict[str, float] = {}
    if n and kind != "cold_start":
        # Weights from every validation customer; the score that decides is cross-fitted.
        weights, _ = learn_weights(ranked, relevant, ids, k)
        hits["blend"] = cross_fitted_hits(ranked, relevant, ids, k)
    hits.update(scored or {})
    scores = {name: hit_metrics(h, relevant.counts, k) for name, h in hits.items()}
    if n == 0:
        return ListChoice(
            kind, "popularity", {}, 0, scores, "no validation customers: best sellers served"
        )
    simplest_first = sorted(scores, key=_simplicity)
    leader = max(simplest_first, key=lambda name: (scores[name]["hit_rate"], scores[name]["ndcg"]))
    hit_any = {name: np.asarray(h.any(axis=1)) for name, h in hits.items()}
    method = next(m for m in simplest_first if within_noise(hit_any[leader], hit_any[m]))
    baselines = [b for b in BASELINES if b in scores and b != method]
    best_baseline = max(baselines, key=lambda b: scores[b]["hit_rate"]) if baselines else method
    won = scores[method]["hit_rate"]
    base = scores[best_baseline]["hit_rate"]
    if method != leader:
        lead = scores[leader]["hit_rate"]
        against = (
            ": the baseline is served"
            if method in BASELINES
            else f"; best baseline {best_baseline} {base:.3f}"
        )
        reason = (
            f"{method} serves: the simplest method within one standard error of the "
            f"validation leader {leader} (hit-rate@{k} {won:.3f} vs {lead:.3f} on {n:,} "
            f"customers){against}"
        )
    elif method in BASELINES:
        reason = (
            f"nothing beats the baseline {method} on the validation slice "
            f"(hit-rate@{k} {won:.3f}, {n:,} customers): the baseline is served"
        )
    else:
        reason = (
            f"{method} wins the validation slice: hit-rate@{k} {won:.3f} vs best baseline "
            f"{best_baseline} {base:.3f} on {n:,} customers, beyond one standard error of "
            "every simpler method"
        )
    learned = {name: w for name, w in weights.items() if w > 0}
    return ListChoice(
        kind, method, learned if method == "blend" else {}, n, scores, reason, learned
    )


def _ranker_validation(
    fitted: Mapping[str, BaseRecommender],
    kind: ListKind,
    ranked: Mapping[str, np.ndarray],
    relevant: Relevant,
    lines: pd.DataFrame,
    k: int,
) -> tuple[dict[str, np.ndarray], Any]:
    """Return the ranker's cross-fitted validation hits and its classifier on every customer.

    Nothing when the list has no learned ranker (``cold_start``) or the slice has no hit
    to learn from.
    """
    n = len(relevant.customers)
    if kind == "cold_start" or n < 2:
        return {}, None
    ranker = learned_ranker(fitted, kind).fit(lines)
    pairs = ranker.pairs(relevant.customers, ranked)
    labels = pairs.labels(relevant, ranker.index_.ids)
    classifier = fit_classifier(pairs, labels, np.arange(n))
    if classifier is None:
        return {}, None
    return {RANKER: cross_fitted_ranker_hits(pairs, labels, n, k)}, classifier


#: A template choice: assembles :data:`HISTORY_THEN_NEW` for its validation lists.
_HISTORY_FIRST = ListChoice("any", HISTORY_THEN_NEW, {}, 0, {}, "")


def choose_plan(
    lines: pd.DataFrame,
    *,
    level: Level = "product",
    k: int = 10,
    validation_fraction: float = 0.2,
) -> ServingPlan:
    """Back-test every candidate on the last ``validation_fraction`` of ``lines``' span.

    Parameters
    ----------
    lines
        The purchase lines available (the training period, when evaluating).
    level
        ``"product"`` or ``"category"``.
    k
        List length.
    validation_fraction
        Share of the time span held out as the validation slice.

    Returns
    -------
    ServingPlan
        The method (or blend weights) serving each list, with the validation evidence.
    """
    split = time_split(lines, validation_fraction)
    targets = Targets.build(split, level)
    fitted: dict[str, BaseRecommender] = {}
    for name, factory in candidates(level).items():
        if name != "ease":
            fitted[name] = factory().fit(split.train)
    ids = fitted["popularity"].index_.ids
    ease_l2, best = EASE_L2_GRID[0], (-1.0, -1.0)
    new = targets.relevant["new"]
    for l2 in EASE_L2_GRID:
        model = Ease(level, l2=l2).fit(split.train)
        recs = model.top_k(new.customers, k, exclude="all")
        metrics = ranking_metrics(recs, new, k)
        if (metrics["hit_rate"], metrics["ndcg"]) > best:
            ease_l2, best, fitted["ease"] = l2, (metrics["hit_rate"], metrics["ndcg"]), model
    if "ease" not in fitted:  # no validation customer to choose l2 on
        fitted["ease"] = Ease(level, l2=ease_l2).fit(split.train)
    choices: dict[ListKind, ListChoice] = {}
    for kind in LIST_KINDS:
        relevant = targets.relevant[kind]
        padded = _lists(fitted, kind, relevant, k)
        if kind == "any":
            # Own history padded by the new-items blend (learned first: LIST_KINDS order).
            padding = replace(_HISTORY_FIRST, weights=choices["new"].learned)
            composite, _ = serving_model(padding, fitted, split.train)
            _, padded[HISTORY_THEN_NEW] = composite._top_k_positions(relevant.customers, k, "none")
        ranked = _evidence_lists(fitted, kind, relevant)
        scored, classifier = _ranker_validation(fitted, kind, ranked, relevant, split.train, k)
        choice = choose_list(kind, padded, ranked, relevant, ids, k, scored)
        if choice.method == HISTORY_THEN_NEW:
            choice = replace(choice, weights=padding.weights)
        elif choice.method == RANKER:
            choice = replace(choice, ranker=classifier)
        choices[kind] = choice
    return ServingPlan(
        level=level,
        k=k,
        ease_l2=ease_l2,
        validation_cutoff=split.cutoff.isoformat(),
        choices=choices,
    )
