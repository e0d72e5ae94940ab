"""Offline evaluation: the served lists next to every candidate and baseline.

The lines are split in time (:mod:`recompra.recommend.backtest`: the last
``test_fraction`` of the span is the test period). On the training period alone the
store's own model selection runs (:func:`~recompra.recommend.selection.choose_plan`,
whose validation windows are each ``test_fraction`` of the *training* span), the
served recommender is fitted, and so is every candidate; all are then scored on the
same test customers, per list:

``all``
    Relevant items: everything the customer bought in the test period. Each candidate
    ranks with its natural history rule (popularity, co-occurrence, EASE, restocking,
    own history: nothing excluded; next-best-offer: only items this store re-buys).
``new``
    Relevant items: test-period items the customer had not bought before; everything
    bought before is excluded; customers with no new item are left out.
``cold_start``
    Test-period customers without any earlier purchase, scored on everything they bought
    (only the popularity rankings apply: every other candidate falls back to them).

The ``served`` rows are exactly what the refresh serves, offer rules included (nothing
bought in the last week before the cutoff). Metrics: :mod:`recompra.recommend.metrics`
(hit-rate, precision, recall, NDCG @k) and catalogue coverage (distinct items
recommended / items in the training catalogue).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, replace
from typing import Any

import numpy as np
import pandas as pd

from recompra.recommend.backtest import LIST_KINDS, ListKind, Population, Targets, time_split
from recompra.recommend.base import BaseRecommender
from recompra.recommend.metrics import METRICS, hit_matrix, paired_difference, ranking_metrics
from recompra.recommend.rule import BASELINES, HISTORY_THEN_NEW, RANKER, ListChoice
from recompra.recommend.selection import (
    ServingPlan,
    candidates,
    choose_plan,
    list_exclude,
    members,
    serving_model,
)
from recompra.recommend.served import ServedRecommender
from recompra.recommend.sql import Level

EVALUATION_COLUMNS = (
    "level",
    "items",
    "model",
    "role",
    "customers",
    *METRICS,
    "coverage",
)
#: How each list is labelled in the table's ``items`` column.
ITEMS_LABEL: dict[ListKind, str] = {"any": "all", "new": "new", "cold_start": "cold_start"}

ModelFactory = Callable[[], BaseRecommender]


def _role(name: str) -> str:
    return "baseline" if name in BASELINES else "candidate"


def evaluate_recommenders(
    lines: pd.DataFrame,
    *,
    level: Level = "product",
    k: int = 10,
    test_fraction: float = 0.2,
    population: Population = "returning",
    models: Mapping[str, ModelFactory] | None = None,
) -> pd.DataFrame:
    """Select and fit on the training period; score served, candidates and baselines.

    Parameters
    ----------
    lines
        All purchase lines (:func:`recompra.recommend.purchases.purchase_lines`).
    level
        ``"product"`` or ``"category"``.
    k
        List length.
    test_fraction
        Share of the time span held out as the test period (and, inside the training
        period, and the length of each validation window of the model selection).
    population
        ``"returning"`` or ``"all"`` (see :mod:`recompra.recommend.backtest`).
    models
        Factories of the models reported next to the served lists (default: every
        candidate of :mod:`recompra.recommend.selection`).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`EVALUATION_COLUMNS`, one row per list and model; ``attrs`` hold
        the split (``cutoff``, ``train_lines``, ``test_lines``, ``k``, ``population``)
        and the ``plan`` (:meth:`~recompra.recommend.selection.ServingPlan.to_dict`).
    """
    split = time_split(lines, test_fraction)
    targets = Targets.build(split, level, population)
    plan = choose_plan(split.train, level=level, k=k, validation_fraction=test_fraction)
    served = ServedRecommender(plan).fit(split.train)
    catalogue = max(len(served.ids_), 1)
    factories = models if models is not None else candidates(level, plan.ease_l2)
    rows: list[dict[str, Any]] = []
    hits: dict[tuple[ListKind, str], np.ndarray] = {}

    def add(kind: ListKind, name: str, role: str, recs: np.ndarray) -> None:
        relevant = targets.relevant[kind]
        hits[kind, name] = np.asarray(hit_matrix(recs[:, :k], relevant).any(axis=1))
        rows.append(
            {
                "level": level,
                "items": ITEMS_LABEL[kind],
                "model": name,
                "role": role,
                "customers": len(relevant.customers),
                **ranking_metrics(recs, relevant, k),
                "coverage": len(np.unique(recs[recs >= 0])) / catalogue,
            }
        )

    for kind in LIST_KINDS:
        who = targets.relevant[kind].customers
        add(kind, "served", f"served: {plan.choices[kind].method}", served.top_k(who, k, kind))
    if models is None:  # the candidates share the served lists' history of the same lines
        fitted = {name: f().fit(split.train, served.history_) for name, f in factories.items()}
    else:
        fitted = {name: factory().fit(split.train) for name, factory in factories.items()}
    for name, model in fitted.items():
        for kind in LIST_KINDS:
            if models is None and name not in members(kind, fitted):
                continue  # e.g. own history has nothing new to offer, nor for newcomers
            who = targets.relevant[kind].customers
            add(kind, name, _role(name), model.top_k(who, k, exclude=list_exclude(kind, model)))
    if models is None:
        for kind, name, composite in _composites(plan):
            model, mode = serving_model(composite, fitted, split.train)
            add(
                kind,
                name,
                "candidate",
                model.top_k(targets.relevant[kind].customers, k, exclude=mode),
            )
    table = pd.DataFrame(rows, columns=list(EVALUATION_COLUMNS))
    order = {label: i for i, label in enumerate(ITEMS_LABEL.values())}
    table = table.sort_values("items", key=lambda c: c.map(order), kind="stable")
    table = table.reset_index(drop=True)
    table.attrs.update(
        {
            "cutoff": split.cutoff.isoformat(),
            "train_lines": len(split.train),
            "test_lines": len(split.test),
            "k": k,
            "population": population,
            "plan": plan.to_dict(),
            "differences": _differences(table, hits),
        }
    )
    return table


def validate_recommenders(
    lines: pd.DataFrame,
    *,
    level: Level = "product",
    k: int = 10,
    test_fraction: float = 0.2,
) -> pd.DataFrame:
    """Return the store's validation evidence alone: nothing is scored on the test period.

    The same time split and model selection as :func:`evaluate_recommenders` (the
    rolling-origin windows of the training period), but only the validation metrics of
    every method per list are returned, one row per (list, method), so a change to the
    selection can be judged without looking at the test period (whose figures, once
    published, must not steer it).

    Returns
    -------
    pandas.DataFrame
        Columns ``items, model, role, rows, hits`` and the metrics @k, ``role`` being
        ``served`` for the method the rule chose; ``attrs`` hold ``cutoff``,
        ``train_lines``, ``k``, ``validation_cutoffs`` and the ``plan``.
    """
    split = time_split(lines, test_fraction)
    plan = choose_plan(split.train, level=level, k=k, validation_fraction=test_fraction)
    rows: list[dict[str, Any]] = []
    for kind, choice in plan.choices.items():
        for name, scores in choice.validation.items():
            role = "served" if name == choice.method else _role(name)
            rows.append(
                {
                    "items": ITEMS_LABEL[kind],
                    "model": name,
                    "role": role,
                    "rows": choice.customers,
                    "hits": round(scores["hit_rate"] * choice.customers),
                    **{metric: scores[metric] for metric in METRICS},
                }
            )
    table = pd.DataFrame(rows, columns=["items", "model", "role", "rows", "hits", *METRICS])
    table.attrs.update(
        {
            "cutoff": split.cutoff.isoformat(),
            "train_lines": len(split.train),
            "k": k,
            "validation_cutoffs": list(plan.validation_cutoffs),
            "plan": plan.to_dict(),
        }
    )
    return table


def validation_markdown(table: pd.DataFrame) -> str:
    """Return :func:`validate_recommenders`' table as Markdown, with each list's reason."""
    k = table.attrs.get("k", "k")
    header = ["items", "model", "role", "rows", "hits", *(f"{m}@{k}" for m in METRICS)]
    cutoffs = ", ".join(str(c)[:10] for c in table.attrs.get("validation_cutoffs", []))
    lines = [
        f"Validation only: train < {str(table.attrs.get('cutoff', ''))[:10]} "
        f"({table.attrs.get('train_lines', 0):,} lines); window origins {cutoffs}; "
        "rows are (customer, window) pairs; nothing is scored on the test period.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" if i < 3 else "---:" for i in range(len(header))) + "|",
    ]
    for row in table.to_dict(orient="records"):
        model = f"**{row['model']}**" if row["role"] == "served" else str(row["model"])
        values = [f"{float(row[m]):.4f}" for m in METRICS]
        cells = [str(row["items"]), model, str(row["role"]), f"{int(row['rows']):,}"]
        lines.append("| " + " | ".join([*cells, f"{int(row['hits']):,}", *values]) + " |")
    lines.append("")
    for kind, choice in table.attrs.get("plan", {}).get("choices", {}).items():
        lines.append(f"* `{ITEMS_LABEL[kind]}`: {choice['reason']}.")
    return "\n".join(lines) + "\n"


def _composites(plan: ServingPlan) -> list[tuple[ListKind, str, ListChoice]]:
    """Return the learned candidates of each list as choices that would serve them.

    The blend (weights learned on the validation windows), the learned ranker and, for
    ``any``, own history padded by the new-items blend, whether or not they serve, so
    the table shows every candidate on the same test customers.
    """
    out = []
    for kind, choice in plan.choices.items():
        if choice.learned:
            out.append((kind, "blend", replace(choice, method="blend", weights=choice.learned)))
        if choice.ranker is not None:
            out.append((kind, RANKER, replace(choice, method=RANKER)))
    new_weights = plan.choices["new"].learned if "new" in plan.choices else {}
    if "any" in plan.choices and new_weights:
        padded = replace(plan.choices["any"], method=HISTORY_THEN_NEW, weights=new_weights)
        out.append(("any", HISTORY_THEN_NEW, padded))
    return out


def _differences(
    table: pd.DataFrame, hits: Mapping[tuple[ListKind, str], np.ndarray]
) -> dict[str, dict[str, Any]]:
    """Return, per list, served minus the best baseline's hit-rate with its bootstrap CI."""
    out: dict[str, dict[str, Any]] = {}
    for kind, label in ITEMS_LABEL.items():
        rows = table.loc[(table["items"] == label) & (table["role"] == "baseline")]
        if rows.empty or (kind, "served") not in hits:
            continue
        best = str(rows["model"].iloc[int(np.argmax(rows["hit_rate"].to_numpy()))])
        diff = paired_difference(hits[kind, "served"], hits[kind, best])
        out[label] = {"best_baseline": best, **asdict(diff)}
    return out


def served_beats_baselines(table: pd.DataFrame) -> dict[str, bool]:
    """Return, per list, whether the served hit-rate beats every baseline's in ``table``."""
    out = {}
    for items, rows in table.groupby("items", sort=False):
        served = rows.loc[rows["model"] == "served", "hit_rate"]
        baselines = rows.loc[rows["role"] == "baseline", "hit_rate"]
        if len(served) and len(baselines):
            out[str(items)] = bool(served.iloc[0] > baselines.max())
    return out


def period_verdict(rows: pd.DataFrame, method: str) -> str:
    """Return what the test period says of one list's served row against every baseline.

    ``rows`` are the list's rows of an evaluation table, ``method`` what serves it. The
    served list is compared with *every* baseline on the same customers, by hit count:
    when a baseline serves it ties itself at best, but another baseline may beat it on
    the test period, and the verdict must then say that it lost rather than tied.
    Returns ``""`` when the rows hold no served row or no baseline.
    """
    served_rows = rows.loc[rows["model"] == "served"]
    baselines = rows.loc[rows["role"] == "baseline"]
    if served_rows.empty or baselines.empty:
        return ""
    # Hit counts, not rates: every row of a list is scored on the same customers, so
    # equal counts are a tie whatever the rounding of the rates.
    served_hits = int(np.rint((served_rows["hit_rate"] * served_rows["customers"]).to_numpy()[0]))
    baseline_hits = np.rint((baselines["hit_rate"] * baselines["customers"]).to_numpy())
    counts = dict(zip(baselines["model"].astype(str), baseline_hits, strict=True))
    rates = dict(zip(baselines["model"].astype(str), baselines["hit_rate"], strict=True))
    itself = f"; the baseline {method} serves" if method in BASELINES else ""
    above = [name for name, hits in counts.items() if hits > served_hits]
    if above:
        named = ", ".join(f"{name} {rates[name]:.4f}" for name in above)
        return (
            f"**served does not beat every baseline on the test period** ({named} above it{itself})"
        )
    tied = [name for name, hits in counts.items() if hits == served_hits]
    if tied:
        ties = ", ".join(tied)
        return f"served ties the baseline {ties} on the test period{itself} (a tie, not a win)"
    return "served beats every baseline on the test period" + itself


def evaluation_markdown(table: pd.DataFrame) -> str:
    """Return an evaluation as a Markdown table, the plan's reasons and the verdict per list.

    This is what ``docs/recommend.md`` pastes, so the published numbers are the command's
    output rather than typed by hand.
    """
    k = table.attrs.get("k", "k")
    header = ["items", "model", "role", "customers", *(f"{m}@{k}" for m in METRICS), "coverage"]
    lines = [
        f"Split: train < {str(table.attrs.get('cutoff', ''))[:10]} "
        f"({table.attrs.get('train_lines', 0):,} lines), test {table.attrs.get('test_lines', 0):,}"
        f" lines; {table.attrs.get('population', '')} customers.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" if i < 3 else "---:" for i in range(len(header))) + "|",
    ]
    records = table.to_dict(orient="records")
    for row in records:
        model = f"**{row['model']}**" if row["model"] == "served" else str(row["model"])
        values = [f"{float(row[m]):.4f}" for m in (*METRICS, "coverage")]
        cells = [str(row["items"]), model, str(row["role"]), f"{int(row['customers']):,}", *values]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    for kind, choice in table.attrs.get("plan", {}).get("choices", {}).items():
        label = ITEMS_LABEL[kind]
        said = period_verdict(table.loc[table["items"] == label], choice["method"])
        weights = ", ".join(f"{name} {w:g}" for name, w in choice["weights"].items())
        reason = choice["reason"] + (f" (weights: {weights})" if weights else "")
        uncertainty = _uncertainty(table.attrs.get("differences", {}).get(label), k)
        lines.append(f"* `{label}`: {reason}" + (f"; {said}" if said else "") + uncertainty + ".")
    return "\n".join(lines) + "\n"


def _uncertainty(diff: Mapping[str, Any] | None, k: object) -> str:
    """Return the served-minus-best-baseline difference as a clause of the verdict."""
    if not diff or diff["difference"] != diff["difference"]:  # missing or NaN
        return ""
    low, high = diff["low"], diff["high"]
    if low > 0:
        meaning = "above zero: a win beyond the noise"
    elif high < 0:
        meaning = "below zero: a loss beyond the noise"
    elif low == high == 0:
        meaning = "the same lists"
    else:
        meaning = "it includes zero: within the noise"
    return (
        f"; served - {diff['best_baseline']} hit-rate@{k} {diff['difference']:+.4f}, "
        f"{diff['confidence']:.0%} bootstrap CI [{low:+.4f}, {high:+.4f}] ({meaning})"
    )
