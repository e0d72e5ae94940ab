"""Per-store model selection: the method (or blend) that wins the store's own back-test.

:func:`choose_plan` evaluates the candidates by **rolling-origin validation**
(time-series cross-validation, :func:`~recompra.recommend.backtest.
validation_splits`): the last :data:`~recompra.recommend.backtest.
VALIDATION_ORIGINS` windows of the lines it is given, each as long as the validation
fraction of the span, each scored by the candidates fitted strictly before it, and
older windows while the pooled rows are fewer than :data:`~recompra.recommend.backtest.
VALIDATION_ROWS` and the history allows. The
scores of every window are pooled, one row per (customer, window), separately for the
three lists (:data:`~recompra.recommend.backtest.LIST_KINDS`). For the ``new`` and
``any`` lists a blend of the candidates is learned on the pooled rows
(:func:`~recompra.recommend.blend.fit_weights`), and scored cross-fitted (weights
learned on one half of the validation customers, scored on the other) so that it is
not favoured by having been tuned on the same customers; for ``cold_start`` customers,
who have no history, only the popularity rankings compete. Each list is then served as
:func:`~recompra.recommend.rule.choose_list` decides: the *simplest* method (:data:`~recompra.
recommend.rule.SIMPLICITY`) within one standard error of the leader whose validation
hit-rate is not below the best baseline's, or that baseline when nothing is above it. The
plan records why: the validation metrics of the winner next to every candidate and
baseline.

Candidates (:data:`CANDIDATES`): ``popularity`` (distinct buyers), ``recent_popularity``
(buyers of the last quarter of the period), ``category_popularity`` (product level only:
the best sellers of the customer's categories, :mod:`recompra.recommend.
category_popularity`), ``cooccurrence`` (same-order cosine) and
``cooccurrence_lift``, ``ease`` (closed-form linear item-item, its ``l2`` chosen here),
``next_best_offer`` (smoothed customer-level co-purchase with category affinity and
restocking), ``replenishment`` (learned per-item rebuy rates timed per customer) and
``own_history``; for ``new`` and ``any`` also the blend and :data:`RANKER`, a pair
classifier over the members' lists (:mod:`recompra.recommend.ranker`), cross-fitted too.
The *baselines* the served lists must beat are :data:`~recompra.recommend.rule.BASELINES`.
Implicit-feedback matrix factorisation (ALS, ``implicit``) was measured as a candidate
and is not one: it never won a list and moved no served blend beyond the noise
(``docs/recommend.md``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from recompra.recommend.backtest import (
    LIST_KINDS,
    VALIDATION_CUSTOMERS,
    VALIDATION_ORIGINS,
    VALIDATION_ROWS,
    ListKind,
    Targets,
    TimeSplit,
    sample_customers,
    validation_splits,
)
from recompra.recommend.base import BaseRecommender, Exclude
from recompra.recommend.blend import (
    BLEND_DEPTH,
    Blend,
    HistoryThenNew,
    ValidationLists,
    customer_halves,
)
from recompra.recommend.category_popularity import CategoryPopularity
from recompra.recommend.ease import Ease
from recompra.recommend.item_cooccurrence import ItemCooccurrence
from recompra.recommend.matrices import History
from recompra.recommend.metrics import Relevant, hit_matrix, hit_metrics
from recompra.recommend.nbo_model import NextBestOffer
from recompra.recommend.popularity import Popularity
from recompra.recommend.ranker import (
    CandidatePairs,
    LearnedRanker,
    cross_fitted_ranker_hits,
    fit_classifier,
)
from recompra.recommend.replenishment import OwnHistory, Replenishment
from recompra.recommend.rule import (
    HISTORY_THEN_NEW,
    RANKER,
    ListChoice,
    PooledEvidence,
    choose_list,
)
from recompra.recommend.sql import Level

#: EASE penalties tried on the validation windows.
EASE_L2_GRID = (10.0, 100.0, 500.0)
#: Candidates that suggest products the customer has not bought yet.
_DISCOVERY = (
    "popularity",
    "recent_popularity",
    "category_popularity",
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


def candidates(
    level: Level, ease_l2: float = 100.0, *, explained: bool = True
) -> dict[str, Callable[[], BaseRecommender]]:
    """Return fresh-model factories of every candidate of ``level`` by name.

    ``category_popularity`` is a product-level candidate only (at category level it is
    own history: :mod:`recompra.recommend.category_popularity`). ``explained=False``
    fits next-best-offer without the pair counts only the offer explanations read
    (:class:`~recompra.recommend.nbo_model.NextBestOffer`; the same scores).
    """
    by_category: dict[str, Callable[[], BaseRecommender]] = (
        {"category_popularity": lambda: CategoryPopularity(level)} if level == "product" else {}
    )
    return {
        "popularity": lambda: Popularity(level),
        "recent_popularity": lambda: Popularity(level, recent_fraction=0.25),
        **by_category,
        "cooccurrence": lambda: ItemCooccurrence(level),
        "cooccurrence_lift": lambda: ItemCooccurrence(level, measure="lift"),
        "ease": lambda: Ease(level, l2=ease_l2),
        "next_best_offer": lambda: NextBestOffer(level, explained=explained),
        "replenishment": lambda: Replenishment(level),
        "own_history": lambda: OwnHistory(level),
    }


#: Candidate names, in display order.
CANDIDATES: tuple[str, ...] = tuple(candidates("product"))


def members(kind: ListKind, available: Iterable[str]) -> tuple[str, ...]:
    """Return the :data:`MEMBERS` of ``kind`` ``available`` at the level (or fitted)."""
    return tuple(name for name in MEMBERS[kind] if name in set(available))


def list_exclude(kind: ListKind, model: BaseRecommender) -> Exclude:
    """Return the history exclusion of ``model`` for a list: ``new`` excludes the history."""
    return "all" if kind == "new" else model.default_exclude


@dataclass(frozen=True)
class ServingPlan:
    """The per-store choice of the three lists (see :func:`choose_plan`)."""

    level: Level
    k: int
    ease_l2: float
    validation_cutoffs: tuple[str, ...]
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
    shared = next(iter(fitted.values())).shared_history()
    level = shared.level
    kind: ListKind = "new" if choice.method == HISTORY_THEN_NEW else choice.kind
    if choice.method == RANKER:
        ranker = learned_ranker(fitted, kind, choice.ranker).fit(lines, shared)
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
        ).fit(lines, shared)
        if choice.method == HISTORY_THEN_NEW:
            history = fitted["own_history"]
            return HistoryThenNew(history, blend, level=level).fit(lines, shared), "none"
        return blend, "all" if kind == "new" else "none"
    model = fitted[choice.method]
    return model, list_exclude(kind, model)


def methods_needed(choices: Mapping[ListKind, ListChoice]) -> set[str]:
    """Return the candidates :func:`serving_model` needs fitted for ``choices``.

    The ranker's are every :data:`MEMBERS` of its list; keep those :func:`candidates`
    offers at the plan's level.
    """
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
    ranked = {name: fitted[name] for name in members(kind, fitted)}
    excludes = {name: list_exclude(kind, m) for name, m in ranked.items()}
    level = next(iter(ranked.values())).level
    return LearnedRanker(ranked, excludes, classifier, level=level)


def _lists(
    models: dict[str, BaseRecommender], kind: ListKind, relevant: Relevant, k: int
) -> dict[str, np.ndarray]:
    """Return each member's validation top ``k``, as it would be served alone."""
    out = {}
    for name in members(kind, models):
        model = models[name]
        _, out[name] = model._top_k_positions(relevant.customers, k, list_exclude(kind, model))
    return out


def _evidence_lists(
    models: dict[str, BaseRecommender], kind: ListKind, relevant: Relevant
) -> dict[str, np.ndarray]:
    """Return each member's validation ranking for the blend (``BLEND_DEPTH`` deep)."""
    out = {}
    for name in members(kind, models):
        model = models[name]
        _, positions = model._top_k_positions(
            relevant.customers, BLEND_DEPTH, list_exclude(kind, model), evidence_only=True
        )
        out[name] = positions
    return out


def _ids(positions: np.ndarray, ids: np.ndarray) -> np.ndarray:
    return np.where(positions >= 0, ids[np.maximum(positions, 0)], -1)


@dataclass(frozen=True)
class _Window:
    """One validation window: the candidates fitted before it, and whom it scores."""

    split: TimeSplit
    relevant: dict[ListKind, Relevant]
    fitted: dict[str, BaseRecommender]
    eases: dict[float, Ease]
    history: History

    @classmethod
    def fit(cls, split: TimeSplit, level: Level, cap: int | None) -> _Window:
        """Fit every candidate (EASE at each grid penalty) on the lines before the window.

        Each list scores at most ``cap`` of the window's customers
        (:func:`~recompra.recommend.backtest.sample_customers`).
        """
        shared = History.of(split.train, level)
        fitted = {
            name: factory().fit(split.train, shared)
            for name, factory in candidates(level, explained=False).items()
            if name != "ease"
        }
        eases = {l2: Ease(level, l2=l2).fit(split.train, shared) for l2 in EASE_L2_GRID}
        relevant = {
            kind: sample_customers(scored, cap)
            for kind, scored in Targets.build(split, level).relevant.items()
        }
        return cls(split, relevant, fitted, eases, shared)

    @cached_property
    def _ranker_fit(self) -> LearnedRanker:
        # Fitted once per window and shared by the new and any lists (with_members):
        # the fit does not depend on the members, and it reads every line of the window.
        return learned_ranker(self.fitted, "any").fit(self.split.train, self.history)

    def ranker(self, kind: ListKind) -> LearnedRanker:
        """Return the :data:`RANKER` of a list over this window's candidates (no classifier)."""
        template = learned_ranker(self.fitted, kind)
        return self._ranker_fit.with_members(template.members, template.exclude)

    @property
    def ids(self) -> np.ndarray:
        """Item id of each position of the window's fitted models."""
        ids: np.ndarray = self.fitted["popularity"].index_.ids
        return ids


def _choose_ease_l2(windows: list[_Window], k: int) -> float:
    """Return the EASE penalty with the best pooled new-items hit-rate (NDCG breaks ties)."""
    best, chosen = (-1.0, -1.0), EASE_L2_GRID[0]
    for l2 in EASE_L2_GRID:
        hits, counts = [], []
        for window in windows:
            new = window.relevant["new"]
            recs = window.eases[l2].top_k(new.customers, k, exclude="all")
            hits.append(hit_matrix(recs[:, :k], new))
            counts.append(new.counts)
        metrics = hit_metrics(np.concatenate(hits), np.concatenate(counts), k)
        if (metrics["hit_rate"], metrics["ndcg"]) > best:
            best, chosen = (metrics["hit_rate"], metrics["ndcg"]), l2
    return chosen


def _pooled_list(
    windows: list[_Window], kind: ListKind, k: int, padding: ListChoice | None
) -> tuple[PooledEvidence, dict[str, np.ndarray], Any]:
    """Return a list's pooled evidence, and the learned ranker's (cross-fitted hits, classifier).

    ``padding`` assembles :data:`HISTORY_THEN_NEW` (``any`` list) from each window's
    fitted candidates.
    """
    hits: dict[str, list[np.ndarray]] = {}
    lists, pairs, labels, customers = [], [], [], []
    for window in windows:
        relevant, fitted = window.relevant[kind], window.fitted
        padded = _lists(fitted, kind, relevant, k)
        if padding is not None:
            composite, _ = serving_model(padding, fitted, window.split.train)
            _, padded[HISTORY_THEN_NEW] = composite._top_k_positions(relevant.customers, k, "none")
        for name, positions in padded.items():
            hits.setdefault(name, []).append(
                hit_matrix(_ids(positions, window.ids)[:, :k], relevant)
            )
        customers.append(relevant.customers)
        if kind == "cold_start":
            continue
        ranked = _evidence_lists(fitted, kind, relevant)
        lists.append(ValidationLists.build(ranked, relevant, window.ids))
        ranker = window.ranker(kind)
        pairs.append(ranker.pairs(relevant.customers, ranked))
        labels.append(pairs[-1].labels(relevant, ranker.index_.ids))
    evidence = PooledEvidence(
        customers=np.concatenate(customers),
        counts=np.concatenate([w.relevant[kind].counts for w in windows]),
        hits={name: np.concatenate(parts) for name, parts in hits.items()},
        lists=ValidationLists.stack(lists) if lists else None,
    )
    n = len(evidence.customers)
    if not pairs or n < 2:
        return evidence, {}, None
    pooled = CandidatePairs.stack(pairs, [len(c) for c in customers])
    pooled_labels = np.concatenate(labels)
    classifier = fit_classifier(pooled, pooled_labels, np.arange(n))
    if classifier is None:
        return evidence, {}, None
    halves = customer_halves(evidence.customers)
    return (
        evidence,
        {RANKER: cross_fitted_ranker_hits(pooled, pooled_labels, halves, k)},
        classifier,
    )


#: A template choice: assembles :data:`HISTORY_THEN_NEW` for its validation lists.
_HISTORY_FIRST = ListChoice("any", HISTORY_THEN_NEW, {}, 0, {}, "")


def choose_plan(
    lines: pd.DataFrame,
    *,
    level: Level = "product",
    k: int = 10,
    validation_fraction: float = 0.2,
    origins: int = VALIDATION_ORIGINS,
    max_customers: int | None = VALIDATION_CUSTOMERS,
    rows: int | None = VALIDATION_ROWS,
) -> ServingPlan:
    """Back-test every candidate on ``origins`` rolling validation windows of ``lines``.

    Parameters
    ----------
    lines
        The purchase lines available (the training period, when evaluating).
    level
        ``"product"`` or ``"category"``.
    k
        List length.
    validation_fraction
        Length of each validation window, as a share of ``lines``' time span.
    origins
        Validation windows, at least (:func:`~recompra.recommend.backtest.
        validation_splits`): the last ``origins`` windows of the span, each fitted
        strictly before it, and older ones while the pooled ``any`` rows are fewer than
        ``rows`` and the history allows.
    max_customers
        Customers scored per list and window, at most: a fixed seeded sample
        (:func:`~recompra.recommend.backtest.sample_customers`); ``None`` scores all.
    rows
        Pooled ``any`` rows asked for before older windows stop being added; ``None``
        keeps exactly ``origins`` windows.

    Returns
    -------
    ServingPlan
        The method (or blend weights) serving each list, with the validation evidence.
    """
    splits = validation_splits(
        lines, validation_fraction, level, origins=origins, rows=rows, cap=max_customers
    )
    windows = [_Window.fit(split, level, max_customers) for split in splits]
    ease_l2 = _choose_ease_l2(windows, k)
    for window in windows:
        window.fitted["ease"] = window.eases[ease_l2]
    choices: dict[ListKind, ListChoice] = {}
    for kind in LIST_KINDS:
        # Own history padded by the new-items blend (learned first: LIST_KINDS order).
        padding = replace(_HISTORY_FIRST, weights=choices["new"].learned) if kind == "any" else None
        evidence, scored, classifier = _pooled_list(windows, kind, k, padding)
        choice = replace(choose_list(kind, evidence, k, scored), ranker=classifier)
        if choice.method == HISTORY_THEN_NEW and padding is not None:
            choice = replace(choice, weights=padding.weights)
        choices[kind] = choice
    return ServingPlan(
        level=level,
        k=k,
        ease_l2=ease_l2,
        validation_cutoffs=tuple(split.cutoff.isoformat() for split in splits),
        choices=choices,
    )
