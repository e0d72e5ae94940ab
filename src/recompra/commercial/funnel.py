"""Funnel analytics: conversion with Wilson intervals, time to close, shrunk rankings
and rep concentration, each defined once over the funnel frame (``frames.py``).

Definitions and references are in docs/commercial.md.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats
from statsmodels.stats.proportion import proportion_confint

#: ``--by`` dimensions and the frame column (or derived key) each groups on.
DIMENSIONS = ("channel", "page", "cohort", "year", "rep")
#: Confidence level of every interval reported.
ALPHA = 0.05
#: Horizons (days) of the "closed within" shares.
CLOSE_HORIZONS = (7, 30, 90)


@dataclass(frozen=True)
class Conversion:
    """Leads, won deals and the conversion rate of one group, with its Wilson interval."""

    group: str
    leads: int
    won: int
    rate: float
    ci_low: float
    ci_high: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def _group_key(frame: pd.DataFrame, by: str) -> pd.Series:
    if by == "channel":
        return frame["channel"].fillna("unknown").astype(str)
    if by == "page":
        return frame["landing_page"].fillna("unknown").astype(str)
    if by in ("cohort", "year"):
        first_contact: pd.Series = frame["first_contact_on"]
        label: pd.Series = first_contact.dt.strftime("%Y-%m" if by == "cohort" else "%Y")
        return label
    if by == "rep":
        return frame["sdr"].fillna("unassigned").astype(str)
    raise ValueError(f"--by must be one of {', '.join(DIMENSIONS)}")


def _conversion(group: str, leads: int, won: int) -> Conversion:
    low, high = proportion_confint(won, leads, alpha=ALPHA, method="wilson")
    return Conversion(group, leads, won, won / leads, float(low), float(high))


def conversion(frame: pd.DataFrame, by: str | None = None) -> list[Conversion]:
    """Share of leads with a won deal, overall (``by=None``) or per group, largest first."""
    if frame.empty:
        return []
    if by is None:
        return [_conversion("all", len(frame), int(frame["won"].sum()))]
    grouped = frame.groupby(_group_key(frame, by))["won"].agg(["size", "sum"])
    rows = [_conversion(str(g), int(r["size"]), int(r["sum"])) for g, r in grouped.iterrows()]
    if by in ("cohort", "year"):
        return sorted(rows, key=lambda r: r.group)
    return sorted(rows, key=lambda r: (-r.leads, r.group))


@dataclass(frozen=True)
class CloseTimes:
    """Distribution of days from first contact to won, over won deals with a valid time."""

    deals: int
    #: Won deals left out because they were won before their first contact.
    excluded: int
    median: float | None
    q1: float | None
    q3: float | None
    #: Share of the deals closed within each horizon (days, inclusive).
    within: dict[int, float]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def time_to_close(frame: pd.DataFrame) -> CloseTimes:
    """Median and quartiles (linear interpolation) of days to close and shares within."""
    days = frame.loc[frame["won"], "days_to_close"]
    valid = days[days >= 0].to_numpy(dtype=float)
    excluded = int((days < 0).sum())
    if len(valid) == 0:
        return CloseTimes(0, excluded, None, None, None, {h: 0.0 for h in CLOSE_HORIZONS})
    q1, median, q3 = np.percentile(valid, [25, 50, 75])
    within = {h: float((valid <= h).mean()) for h in CLOSE_HORIZONS}
    return CloseTimes(len(valid), excluded, float(median), float(q1), float(q3), within)


@dataclass(frozen=True)
class RankedGroup:
    """A group's raw and shrunk conversion and its rank by the shrunk rate."""

    group: str
    leads: int
    won: int
    raw_rate: float
    shrunk_rate: float
    rank: int


def _beta_binomial_prior(won: np.ndarray, leads: np.ndarray) -> tuple[float, float]:
    """Maximum-likelihood Beta(a, b) prior of the groups' rates (beta-binomial model)."""

    def negative_log_likelihood(params: np.ndarray) -> float:
        a, b = np.exp(params)
        return float(-stats.betabinom.logpmf(won, leads, a, b).sum())

    mean = max(won.sum() / leads.sum(), 1e-6)
    start = np.log([mean * 10, (1 - mean) * 10])
    fit = optimize.minimize(negative_log_likelihood, start, method="Nelder-Mead")
    a, b = np.exp(fit.x)
    return float(a), float(b)


def shrunk_ranking(frame: pd.DataFrame, by: str) -> tuple[list[RankedGroup], tuple[float, float]]:
    """Groups ranked by their empirical-Bayes (beta-binomial) posterior mean rate.

    The prior Beta(a, b) is fitted to all groups by maximum likelihood; each group's rate
    is shrunk to (won + a) / (leads + a + b), so a page with 3 leads and 1 deal stays
    near the overall rate instead of ranking first. Returns the rows and (a, b).
    """
    grouped = frame.groupby(_group_key(frame, by))["won"].agg(["size", "sum"])
    if grouped.empty:
        return [], (0.0, 0.0)
    leads = grouped["size"].to_numpy(dtype=int)
    won = grouped["sum"].to_numpy(dtype=int)
    a, b = _beta_binomial_prior(won, leads)
    shrunk = (won + a) / (leads + a + b)
    order = np.lexsort((-leads, -shrunk))
    rows = [
        RankedGroup(
            group=str(grouped.index[i]),
            leads=int(leads[i]),
            won=int(won[i]),
            raw_rate=float(won[i] / leads[i]),
            shrunk_rate=float(shrunk[i]),
            rank=rank,
        )
        for rank, i in enumerate(order, start=1)
    ]
    return rows, (a, b)


@dataclass(frozen=True)
class RepConcentration:
    """How won deals spread over sales reps (deal owners)."""

    reps: int
    deals: int
    top_rep_share: float
    #: Herfindahl-Hirschman index of the reps' deal shares (1/reps .. 1).
    hhi: float
    #: The fewest reps that together closed at least 80% of the deals.
    reps_for_80_percent: int
    deals_by_rep: dict[str, int]


def rep_concentration(frame: pd.DataFrame) -> RepConcentration:
    """Deal shares of the owners of won deals: top share, HHI and reps for 80%."""
    owners = frame.loc[frame["won"], "owner"].fillna("unassigned")
    counts = owners.value_counts()
    if counts.empty:
        return RepConcentration(0, 0, 0.0, 0.0, 0, {})
    shares = counts.to_numpy(dtype=float) / counts.sum()
    cumulative = np.cumsum(shares)
    return RepConcentration(
        reps=len(counts),
        deals=int(counts.sum()),
        top_rep_share=float(shares[0]),
        hhi=float((shares**2).sum()),
        reps_for_80_percent=int(np.searchsorted(cumulative, 0.8 - 1e-12) + 1),
        deals_by_rep={str(k): int(v) for k, v in counts.items()},
    )
