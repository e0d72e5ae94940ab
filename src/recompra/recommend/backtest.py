"""The time split shared by the offline evaluation and the per-store model selection.

The last ``test_fraction`` of the time span (first to last purchase) is held out.
Everything is fitted on the purchase lines *before* the cutoff only, so nothing about the
held-out period (orders, popularity, co-occurrence, repeat behaviour) leaks into
training. The model selection (:mod:`recompra.recommend.selection`) splits the training
period again into rolling validation windows (:func:`rolling_origin_splits`), all before
the test.

Who is scored (:class:`Targets`):

``any`` and ``new`` lists
    Customers who bought in the held-out period *and* before it (``population=
    "returning"``, the customers a CRM can target with their history), or every
    held-out customer (``"all"``; newcomers then get the cold-start list). ``any``: the
    relevant items are everything they bought in the held-out period; ``new``: only the
    items they had not bought before (customers with none are left out).
``cold_start`` lists
    Held-out customers with no purchase before the cutoff; relevant: everything they
    bought.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from recompra.recommend.metrics import Relevant
from recompra.recommend.purchases import item_column
from recompra.recommend.sql import Level

#: The three lists served and evaluated separately.
ListKind = Literal["new", "any", "cold_start"]
LIST_KINDS: tuple[ListKind, ...] = ("new", "any", "cold_start")
Population = Literal["returning", "all"]


@dataclass(frozen=True)
class TimeSplit:
    """Purchase lines split at ``cutoff``: ``train`` strictly before, ``test`` from it on."""

    train: pd.DataFrame
    test: pd.DataFrame
    cutoff: pd.Timestamp
    start: pd.Timestamp
    end: pd.Timestamp


def time_split(lines: pd.DataFrame, test_fraction: float = 0.2) -> TimeSplit:
    """Split purchase lines in time: the last ``test_fraction`` of the span is held out.

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


#: Validation windows of the model selection, at least (rolling origin,
#: :func:`rolling_origin_splits`); :func:`validation_splits` adds older ones while the
#: pooled rows are fewer than :data:`VALIDATION_ROWS`.
VALIDATION_ORIGINS = 3
#: Customers the model selection scores per list and validation window, at most
#: (:func:`sample_customers`). Fixed on 2026-12-05 before any test figure was looked at:
#: 10,000 rows per window pool to 30,000 per list, where the standard error of a
#: hit-rate difference is about 0.003; the cost of every candidate's validation lists,
#: the blend weights and the ranker then stops growing with the store.
VALIDATION_CUSTOMERS = 10_000
#: Pooled ``any`` rows (customer, window) the model selection asks for before it stops
#: adding older windows: three full windows of :data:`VALIDATION_CUSTOMERS`. Fixed on
#: 2026-12-06 before the test periods were evaluated with it.
VALIDATION_ROWS = 3 * VALIDATION_CUSTOMERS
#: Seed of the hash that picks the sampled validation customers.
VALIDATION_SEED = 20261205

_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = 0x9E3779B97F4A7C15


def customer_hash(customers: np.ndarray, seed: int = VALIDATION_SEED) -> np.ndarray:
    """Return a seeded 64-bit hash of each customer id (SplitMix64's finaliser)."""
    offset = np.uint64(seed * _GOLDEN % 2**64)
    x = np.asarray(customers, dtype=np.int64).view(np.uint64) + offset
    x = (x ^ (x >> np.uint64(30))) * _MIX_1
    x = (x ^ (x >> np.uint64(27))) * _MIX_2
    hashed: np.ndarray = x ^ (x >> np.uint64(31))
    return hashed


def sample_customers(
    relevant: Relevant, cap: int | None = VALIDATION_CUSTOMERS, seed: int = VALIDATION_SEED
) -> Relevant:
    """Return the ``cap`` customers of ``relevant`` with the smallest seeded hash.

    The sample depends only on the customer ids and the seed, not on row order, so a
    customer sampled in one window or list is sampled in every other one that holds
    them (their rows stay paired across the pooled windows). ``None`` keeps everyone.
    """
    if cap is None or len(relevant.customers) <= cap:
        return relevant
    if cap < 1:
        raise ValueError("cap must be at least 1")
    order = np.argsort(customer_hash(relevant.customers, seed), kind="stable")
    return relevant.take(np.sort(order[:cap]))


def rolling_origin_splits(
    lines: pd.DataFrame, window_fraction: float, origins: int = VALIDATION_ORIGINS
) -> list[TimeSplit]:
    """Split purchase lines at several origins: time-series cross-validation.

    The span (first to last purchase) ends in ``origins`` consecutive windows, each
    ``window_fraction`` of the span long; window ``j`` (oldest first) holds the lines of
    ``[cutoff_j, cutoff_j + length)`` (the last one also its end) and is fitted on the
    lines strictly before ``cutoff_j``, never on anything after its own start
    (Hyndman and Athanasopoulos, *Forecasting: Principles and Practice*, 3rd ed., 5.10;
    Tashman 2000). With ``origins=1`` it is :func:`time_split`. Origins that would leave
    no line to fit on are dropped, so at least the latest window remains.

    Returns
    -------
    list[TimeSplit]
        One split per origin, oldest first; ``test`` holds the window's lines.
    """
    if origins < 1:
        raise ValueError("origins must be at least 1")
    latest = time_split(lines, window_fraction)
    length = latest.end - latest.cutoff
    splits = []
    for back in range(origins - 1, 0, -1):
        cutoff = latest.cutoff - length * back
        before = lines["purchased_at"] < cutoff
        inside = ~before & (lines["purchased_at"] < cutoff + length)
        if before.any() and inside.any():
            splits.append(
                TimeSplit(
                    train=lines.loc[before].reset_index(drop=True),
                    test=lines.loc[inside].reset_index(drop=True),
                    cutoff=cutoff,
                    start=latest.start,
                    end=cutoff + length,
                )
            )
    return [*splits, latest]


@dataclass(frozen=True)
class Targets:
    """What each kind of list is scored against on one split (see the module docstring)."""

    relevant: dict[ListKind, Relevant]

    @classmethod
    def build(cls, split: TimeSplit, level: Level, population: Population = "returning") -> Targets:
        """Return the customers and relevant items of every list kind."""
        if population not in ("returning", "all"):
            raise ValueError("population must be 'returning' or 'all'")
        column = item_column(level)
        test_pairs = split.test[["customer_id", column]].drop_duplicates()
        test_pairs = test_pairs.rename(columns={column: "item_id"})
        train_pairs = split.train[["customer_id", column]].drop_duplicates()
        train_pairs = train_pairs.rename(columns={column: "item_id"})
        buyers = np.sort(test_pairs["customer_id"].unique())
        known = np.isin(buyers, train_pairs["customer_id"].unique())
        customers = buyers[known] if population == "returning" else buyers
        seen = train_pairs.assign(seen=True)
        marked = test_pairs.merge(seen, on=["customer_id", "item_id"], how="left")
        new_pairs = marked.loc[marked["seen"].isna(), ["customer_id", "item_id"]]
        new_customers = np.intersect1d(customers, new_pairs["customer_id"].unique())
        return cls(
            relevant={
                "any": Relevant.build(customers, test_pairs),
                "new": Relevant.build(new_customers, new_pairs),
                "cold_start": Relevant.build(buyers[~known], test_pairs),
            }
        )


def validation_splits(
    lines: pd.DataFrame,
    window_fraction: float,
    level: Level,
    *,
    origins: int = VALIDATION_ORIGINS,
    rows: int | None = VALIDATION_ROWS,
    cap: int | None = VALIDATION_CUSTOMERS,
) -> list[TimeSplit]:
    """Return the rolling-origin windows of the model selection, oldest first.

    The latest ``origins`` windows (:func:`rolling_origin_splits`), then older ones, one
    at a time, while the pooled rows of the ``any`` list (its returning customers per
    window, at most ``cap`` each: :func:`sample_customers`) are fewer than ``rows`` and
    the history allows: every window is fitted on at least one window's length of
    history, so with windows of a fifth of the span there are at most four. ``rows=None``
    keeps exactly ``origins`` windows. The rule looks at the customers of the windows
    only, never at a score.
    """
    most = origins if rows is None else max(origins, int(1.0 / window_fraction + 1e-9) - 1)
    splits = rolling_origin_splits(lines, window_fraction, most)
    chosen: list[TimeSplit] = []
    pooled = 0
    for split in reversed(splits):
        if len(chosen) >= origins and (rows is None or pooled >= rows):
            break
        chosen.append(split)
        relevant = Targets.build(split, level).relevant["any"]
        pooled += len(sample_customers(relevant, cap).customers)
    return chosen[::-1]
