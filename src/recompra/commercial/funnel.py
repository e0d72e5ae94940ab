"""Funnel analytics: conversion with Wilson intervals, time to close, shrunk rankings
and rep concentration.

Each metric is one SQL text (:mod:`recompra.commercial.funnel_sql`) that DuckDB and Spark
run over the funnel frame (``frames.py``) registered as a view by :func:`funnel_engine`;
this module turns the rows into typed results and adds the statistics on top of the
counts (Wilson intervals, the beta-binomial prior). Definitions and references are in
docs/commercial.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from recompra.commercial.funnel_sql import (
    CLOSE_HORIZONS,
    FUNNEL_VIEW,
    conversion_sql,
    rep_concentration_sql,
    rep_deals_sql,
    time_to_close_sql,
)
from recompra.engines.base import Engine
from recompra.engines.registry import open_engine

#: Confidence level of every interval reported.
ALPHA = 0.05

#: Column types of the funnel view, so an all-missing column keeps its type.
FUNNEL_SCHEMA = pa.schema(
    [
        ("lead_id", pa.int64()),
        ("channel", pa.string()),
        ("landing_page", pa.string()),
        ("sdr", pa.string()),
        ("owner", pa.string()),
        ("first_contact_on", pa.date32()),
        ("closed_on", pa.date32()),
        ("won", pa.bool_()),
    ]
)


def funnel_table(frame: pd.DataFrame) -> pa.Table:
    """The columns of a funnel frame (``frames.funnel_frame``) that the funnel SQL reads."""
    columns = {
        "first_contact_on": pd.to_datetime(frame["first_contact_on"]).dt.date,
        "closed_on": pd.to_datetime(frame["closed_on"]).dt.date,
    }
    data = frame.assign(**columns)[FUNNEL_SCHEMA.names]
    # Missing dates arrive as NaT; Arrow wants None.
    data = data.astype(object).where(data.notna(), None)
    return pa.Table.from_pandas(data, schema=FUNNEL_SCHEMA, preserve_index=False)


@contextmanager
def funnel_engine(
    frame: pd.DataFrame, *, engine: str = "duckdb", spark: Any = None
) -> Iterator[Engine]:
    """Yield engine ``engine`` with ``frame`` registered as the funnel view."""
    with open_engine(engine, spark=spark) as opened:
        opened.register_tables({FUNNEL_VIEW: funnel_table(frame)})
        yield opened


def _rows(engine: Engine, sql: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = engine.query(sql).to_pylist()
    return rows


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


def _conversion(group: str, leads: int, won: int) -> Conversion:
    # statsmodels and scipy are imported where used: the API server imports this
    # module and must start without them (issue 20).
    from statsmodels.stats.proportion import proportion_confint

    low, high = proportion_confint(won, leads, alpha=ALPHA, method="wilson")
    return Conversion(group, leads, won, won / leads, float(low), float(high))


def conversion(engine: Engine, by: str | None = None) -> list[Conversion]:
    """Share of leads with a won deal, overall (``by=None``) or per group of ``by``."""
    return [_conversion(r["grp"], r["leads"], r["won"]) for r in _rows(engine, conversion_sql(by))]


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


def time_to_close(engine: Engine) -> CloseTimes:
    """Median and quartiles (linear interpolation) of days to close and shares within."""
    (row,) = _rows(engine, time_to_close_sql(engine.dialect))
    within = {h: float(row[f"within_{h}"]) for h in CLOSE_HORIZONS}
    return CloseTimes(row["deals"], row["excluded"], row["median"], row["q1"], row["q3"], within)


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
    from scipy import optimize, stats  # lazy, see _conversion

    def negative_log_likelihood(params: np.ndarray) -> float:
        a, b = np.exp(params)
        return float(-stats.betabinom.logpmf(won, leads, a, b).sum())

    mean = max(won.sum() / leads.sum(), 1e-6)
    start = np.log([mean * 10, (1 - mean) * 10])
    fit = optimize.minimize(negative_log_likelihood, start, method="Nelder-Mead")
    a, b = np.exp(fit.x)
    return float(a), float(b)


def shrunk_ranking(engine: Engine, by: str) -> tuple[list[RankedGroup], tuple[float, float]]:
    """Groups ranked by their empirical-Bayes (beta-binomial) posterior mean rate.

    The prior Beta(a, b) is fitted to all groups by maximum likelihood; each group's rate
    is shrunk to (won + a) / (leads + a + b), so a page with 3 leads and 1 deal stays
    near the overall rate instead of ranking first. Returns the rows and (a, b).
    """
    groups = conversion(engine, by)
    if not groups:
        return [], (0.0, 0.0)
    leads = np.array([g.leads for g in groups], dtype=int)
    won = np.array([g.won for g in groups], dtype=int)
    a, b = _beta_binomial_prior(won, leads)
    shrunk = (won + a) / (leads + a + b)
    order = np.lexsort((-leads, -shrunk))
    rows = [
        RankedGroup(
            group=groups[i].group,
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


def rep_concentration(engine: Engine) -> RepConcentration:
    """Deal shares of the owners of won deals: top share, HHI and reps for 80%."""
    (row,) = _rows(engine, rep_concentration_sql())
    deals_by_rep = {r["rep"]: r["deals"] for r in _rows(engine, rep_deals_sql())}
    return RepConcentration(
        reps=row["reps"],
        deals=row["deals"],
        top_rep_share=float(row["top_rep_share"]),
        hhi=float(row["hhi"]),
        reps_for_80_percent=row["reps_for_80_percent"],
        deals_by_rep=deals_by_rep,
    )
