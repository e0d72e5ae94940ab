"""Segment transitions between two as-of dates (pure functions over two score tables)."""

from __future__ import annotations

import pandas as pd

from recompra.analytics.rfm import SEGMENT_KEYS

#: Row/column label for customers absent from one of the two score tables.
ABSENT = "none"


def transitions(before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    """Count customers by (segment before, segment after).

    Parameters
    ----------
    before, after
        Score tables (columns ``customer_id`` and ``segment``), e.g. the ``scores`` of two
        analytics runs with different ``as_of`` dates.

    Returns
    -------
    pandas.DataFrame
        ``from_segment, to_segment, customers`` for every pair with at least one customer;
        customers present in only one table appear with segment ``"none"`` on the other
        side (new customers have ``from_segment == "none"``). Sorted by segment-map order.
    """
    left = before[["customer_id", "segment"]].rename(columns={"segment": "from_segment"})
    right = after[["customer_id", "segment"]].rename(columns={"segment": "to_segment"})
    merged = left.merge(right, on="customer_id", how="outer")
    merged = merged.fillna({"from_segment": ABSENT, "to_segment": ABSENT})
    counts = (
        merged.groupby(["from_segment", "to_segment"], sort=False)
        .size()
        .rename("customers")
        .reset_index()
    )
    rank = {key: i for i, key in enumerate((*SEGMENT_KEYS, ABSENT))}
    counts = counts.sort_values(
        ["from_segment", "to_segment"], key=lambda s: s.map(lambda v: rank.get(v, len(rank)))
    )
    return counts.reset_index(drop=True).astype({"customers": "int64"})


def transition_matrix(before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    """Square matrix of :func:`transitions`: rows = segment before, columns = after.

    Rows and columns list every segment of the map plus ``"none"``, in map order; cells
    without customers are 0.
    """
    labels = [*SEGMENT_KEYS, ABSENT]
    long = transitions(before, after)
    matrix = long.pivot_table(
        index="from_segment", columns="to_segment", values="customers", aggfunc="sum"
    )
    matrix = matrix.reindex(index=labels, columns=labels).fillna(0).astype("int64")
    matrix.index.name = "from_segment"
    matrix.columns.name = "to_segment"
    return matrix
