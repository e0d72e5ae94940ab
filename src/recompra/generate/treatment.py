"""A known treatment effect for the demo's journey history (issue 16's ground truth).

The store's own orders follow the BG/NBD truth whatever a journey does; on top of them
each journey with a :class:`TreatmentEffect` gives every *treated* entrant one extra
order within the outcome window with a configured probability, and the holdout none. So
the true effect is known: ``extra_order_probability`` more orders per treated entrant,
worth that probability times the mean value of the extra orders. A journey with
probability 0 has no effect at all (its comparison is an A/A test).

Pure and seeded: which customers enter and in which arm is decided by the caller (the
arm by the automation's own stable hash), this module only draws the extra orders.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class TreatmentEffect:
    """A journey's true effect: the chance that a treated entrant buys once more within
    ``window_days`` of entering because of it (the holdout gets no such order)."""

    journey: str
    extra_order_probability: float
    window_days: int = 30


#: The demo's journeys: the win-back works, the thank-you e-mail changes nothing.
DEMO_EFFECTS = (
    TreatmentEffect("win_back", 0.15),
    TreatmentEffect("post_purchase_thanks", 0.0),
)


@dataclass(frozen=True)
class Entry:
    """A customer entering a journey at ``entered_at``, in the treated arm or not."""

    customer_id: int
    entered_at: datetime
    treated: bool


@dataclass(frozen=True)
class ExtraOrder:
    """An order the journey caused, placed inside the entrant's outcome window."""

    customer_id: int
    purchased_at: datetime


def extra_orders(
    entries: Sequence[Entry], effect: TreatmentEffect, rng: np.random.Generator
) -> list[ExtraOrder]:
    """The orders ``effect`` adds: each treated entrant buys with its probability, at a
    uniform time between 1 and ``window_days - 1`` days after entering (inside the
    window whatever the hour). Draws are made for every entrant, treated or not, so the
    treated arm's orders do not depend on the holdout's size."""
    draws = rng.random(len(entries))
    delays = rng.uniform(1.0, effect.window_days - 1.0, len(entries))
    return [
        ExtraOrder(entry.customer_id, entry.entered_at + timedelta(days=float(delay)))
        for entry, draw, delay in zip(entries, draws, delays, strict=True)
        if entry.treated and draw < effect.extra_order_probability
    ]


def at_risk_entries(
    purchases: pd.DataFrame,
    *,
    start: datetime,
    end: datetime,
    recency_days: tuple[int, int] = (150, 400),
    rng: np.random.Generator,
) -> list[tuple[int, datetime]]:
    """When customers entered an "at risk" journey: each customer gets one uniform
    moment in ``[start, end)`` and enters then if their last purchase before it lies
    ``recency_days`` back (lapsing, not yet lost). ``purchases`` has ``customer_id``
    and tz-aware ``purchased_at``."""
    customers = np.sort(purchases["customer_id"].unique())
    span = (end - start).total_seconds()
    moments = pd.Series(
        [start + timedelta(seconds=float(s)) for s in rng.uniform(0, span, len(customers))],
        index=customers,
    )
    joined = purchases.assign(moment=purchases["customer_id"].map(moments))
    last = (
        joined[joined["purchased_at"] < joined["moment"]]
        .groupby("customer_id")["purchased_at"]
        .max()
    )
    recency = (moments[last.index] - last).dt.days
    low, high = recency_days
    chosen = recency[(recency >= low) & (recency <= high)].index
    return sorted(
        ((int(c), moments[c].to_pydatetime()) for c in chosen), key=lambda entry: entry[1]
    )
