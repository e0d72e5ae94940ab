"""Histograms whose bins follow a long-tailed distribution (predicted CLV).

Customer value is heavily skewed: with equal-width bins almost every customer lands in
the first bar. Bin edges on a 1-2-5 sequence (R$ 1, 2, 5, 10, 20, 50...) grow about
geometrically, so each bar covers a similar *ratio* of values and the edges stay round
numbers a manager can read.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from datetime import date

from sqlalchemy.orm import Session

from recompra.reads.models import Bucket
from recompra.reads.scores import predicted_clv_values

_STEPS = (1, 2, 5)


def one_two_five_edges(low: int, high: int) -> list[int]:
    """Edges ``e0 <= low < ... <= high < e_last`` on the 1-2-5 sequence (``low >= 1``)."""
    edges: list[int] = []
    scale = 1
    while True:
        for step in _STEPS:
            edge = step * scale
            if edge > high:
                edges.append(edge)
                first = bisect.bisect_right(edges, low) - 1
                return edges[max(first, 0) :]
            edges.append(edge)
        scale *= 10


def log_buckets(values: Sequence[int]) -> list[Bucket]:
    """Counts of ``values`` (minor units) in 1-2-5 bins; values below 1 share a bin from 0.

    Empty bins between the first and last occupied ones are kept, so gaps stay visible.
    """
    if not values:
        return []
    positive = [v for v in values if v >= 1]
    below = len(values) - len(positive)
    buckets: list[Bucket] = []
    if positive:
        edges = one_two_five_edges(min(positive), max(positive))
        counts = [0] * (len(edges) - 1)
        for v in positive:
            counts[bisect.bisect_right(edges, v) - 1] += 1
        buckets = [
            Bucket(low_minor=edges[i], high_minor=edges[i + 1], customers=n)
            for i, n in enumerate(counts)
        ]
    if below:
        top = buckets[0].low_minor if buckets else 1
        buckets.insert(0, Bucket(low_minor=0, high_minor=top, customers=below))
    return buckets


def clv_log_histogram(session: Session, *, brand_id: int, as_of: date) -> list[Bucket]:
    """Predicted CLV on ``as_of`` in 1-2-5 bins (empty when nothing was predicted)."""
    return log_buckets(predicted_clv_values(session, brand_id=brand_id, as_of=as_of))
