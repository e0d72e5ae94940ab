"""Offline evaluation of the recommenders on a time-ordered split.

The last ``test_fraction`` of the time span (first to last purchase) is the test period.
Every model is fitted on the purchase lines *before* the cutoff only, so nothing about
the test period (orders, popularity, co-occurrence, repeat categories) leaks into
training; a test proves it by changing the test period and checking that the
recommendations do not move.

Who is evaluated (``population``):

``"returning"`` (default)
    Customers who bought in the test period *and* before it: the customers a CRM can
    actually target with a next-best-offer, and the only ones where the history matters.
``"all"``
    Every test-period customer; the newcomers get the cold-start (popularity) list from
    every model, which dilutes the differences equally.

Two scopes (``items`` column of the table):

``"all"``
    Relevant items: everything the customer bought in the test period. Each model ranks
    with its natural history rule (popularity: none excluded; co-occurrence: already
    bought excluded; next-best-offer: excluded unless repeat-purchase).
``"new"``
    Relevant items: test-period items the customer had not bought before; every model
    excludes the customer's history; customers with no new item are left out.

Metrics per customer, averaged: hit-rate@k (at least one relevant item in the list),
precision@k (relevant in list / k), recall@k (relevant in list / relevant). Catalogue
coverage: distinct items recommended / items in the training catalogue.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from recompra.recommend.purchases import item_column
from recompra.recommend.recommenders import (
    BaseRecommender,
    ItemCooccurrence,
    NextBestOffer,
    Popularity,
)
from recompra.recommend.sql import Level

EVALUATION_COLUMNS = (
    "level",
    "items",
    "model",
    "customers",
    "hit_rate",
    "precision",
    "recall",
    "coverage",
)

ModelFactory = Callable[[Level], BaseRecommender]

DEFAULT_MODELS: dict[str, ModelFactory] = {
    "next_best_offer": lambda level: NextBestOffer(level),
    "cooccurrence": lambda level: ItemCooccurrence(level),
    "popularity": lambda level: Popularity(level),
}


@dataclass(frozen=True)
class TimeSplit:
    """Purchase lines split at ``cutoff``: ``train`` strictly before, ``test`` from it on."""

    train: pd.DataFrame
    test: pd.DataFrame
    cutoff: pd.Timestamp
    start: pd.Timestamp
    end: pd.Timestamp


def time_split(lines: pd.DataFrame, test_fraction: float = 0.2) -> TimeSplit:
    """Split purchase lines in time: the last ``test_fraction`` of the span is the test.

    Parameters
    ----------
    lines
        Purchase lines with ``purchased_at``.
    test_fraction
        Share of the time span (not of the rows) held out, in ``(0, 1)``.

    Returns
    -------
    TimeSplit
        Train and test lines and the cutoff.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError("test_fraction must lie in (0, 1)")
    if lines.empty:
        raise ValueError("no purchase lines to split")
    start = pd.Timestamp(lines["purchased_at"].min())
    end = pd.Timestamp(lines["purchased_at"].max())
    cutoff = start + (end - start) * (1.0 - test_fraction)
    before = lines["purchased_at"] < cutoff
    return TimeSplit(
        train=lines.loc[before].reset_index(drop=True),
        test=lines.loc[~before].reset_index(drop=True),
        cutoff=cutoff,
        start=start,
        end=end,
    )


def _relevant(
    split: TimeSplit, level: Level, population: str
) -> tuple[np.ndarray, pd.DataFrame, pd.DataFrame]:
    column = item_column(level)
    test_pairs = split.test[["customer_id", column]].drop_duplicates()
    train_pairs = split.train[["customer_id", column]].drop_duplicates()
    customers = np.sort(test_pairs["customer_id"].unique())
    if population == "returning":
        customers = np.intersect1d(customers, train_pairs["customer_id"].unique())
    elif population != "all":
        raise ValueError("population must be 'returning' or 'all'")
    test_pairs = test_pairs.loc[test_pairs["customer_id"].isin(customers)]
    test_pairs = test_pairs.rename(columns={column: "item_id"})
    seen = train_pairs.rename(columns={column: "item_id"}).assign(seen=True)
    marked = test_pairs.merge(seen, on=["customer_id", "item_id"], how="left")
    new_pairs = marked.loc[marked["seen"].isna(), ["customer_id", "item_id"]]
    return customers, test_pairs, new_pairs


def _metrics(
    recs: np.ndarray, customers: np.ndarray, relevant: pd.DataFrame, k: int
) -> dict[str, float]:
    if len(customers) == 0:
        return {"hit_rate": np.nan, "precision": np.nan, "recall": np.nan}
    rows = np.repeat(np.arange(len(customers)), recs.shape[1])
    long = pd.DataFrame({"row": rows, "item_id": recs.ravel()})
    long = long.loc[long["item_id"] >= 0]
    row_of = pd.Series(np.arange(len(customers)), index=customers)
    rel = relevant.assign(row=row_of.reindex(relevant["customer_id"]).to_numpy())
    n_relevant = rel.groupby("row").size().reindex(range(len(customers)), fill_value=0)
    hits = long.merge(rel[["row", "item_id"]], on=["row", "item_id"], how="inner")
    n_hits = hits.groupby("row").size().reindex(range(len(customers)), fill_value=0)
    h = n_hits.to_numpy(dtype=np.float64)
    r = n_relevant.to_numpy(dtype=np.float64)
    return {
        "hit_rate": float(np.mean(h > 0)),
        "precision": float(np.mean(h / k)),
        "recall": float(np.mean(np.divide(h, r, out=np.zeros_like(h), where=r > 0))),
    }


def evaluate_recommenders(
    lines: pd.DataFrame,
    *,
    level: Level = "product",
    k: int = 10,
    test_fraction: float = 0.2,
    population: str = "returning",
    models: Mapping[str, ModelFactory] | None = None,
) -> pd.DataFrame:
    """Fit each model on the training period and score it on the test period.

    Parameters
    ----------
    lines
        All purchase lines (:func:`recompra.recommend.purchases.purchase_lines`).
    level
        ``"product"`` or ``"category"``.
    k
        List length.
    test_fraction
        Share of the time span held out as the test period.
    population
        ``"returning"`` or ``"all"`` (see the module docstring).
    models
        Model factories by name (default: next-best-offer, co-occurrence, popularity).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`EVALUATION_COLUMNS`; one row per model and scope, with
        ``attrs["cutoff"]``, ``attrs["train_lines"]`` and ``attrs["test_lines"]``.
    """
    split = time_split(lines, test_fraction)
    customers, relevant_all, relevant_new = _relevant(split, level, population)
    new_customers = np.sort(relevant_new["customer_id"].unique())
    rows = []
    for name, factory in (models or DEFAULT_MODELS).items():
        model = factory(level).fit(split.train)
        catalogue = max(model.index_.size, 1)
        for scope, who, relevant, exclude in (
            ("all", customers, relevant_all, model.default_exclude),
            ("new", new_customers, relevant_new, "all"),
        ):
            recs = model.top_k(who, k, exclude=exclude)
            metrics = _metrics(recs, who, relevant, k)
            recommended = np.unique(recs[recs >= 0])
            rows.append(
                {
                    "level": level,
                    "items": scope,
                    "model": name,
                    "customers": len(who),
                    **metrics,
                    "coverage": len(recommended) / catalogue,
                }
            )
    table = pd.DataFrame(rows, columns=list(EVALUATION_COLUMNS))
    table = table.sort_values(["items", "model"], kind="stable").reset_index(drop=True)
    table.attrs.update(
        {
            "cutoff": split.cutoff.isoformat(),
            "train_lines": len(split.train),
            "test_lines": len(split.test),
            "k": k,
            "population": population,
        }
    )
    return table
