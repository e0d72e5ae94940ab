"""KPIs of any day range (and the equal-length range before it), after the run.

The analytics run keeps the per-order facts, lapses and review scores it computed the
KPIs from (``period_inputs/<table>.parquet`` in the brand's output directory, a file or a
Spark part directory). A date range asked for later, such as the dashboard's "last 90
days against the 90 before", runs :func:`~recompra.analytics.kpis.kpis_by_range_sql` on
them in an embedded DuckDB: the same SQL, so the same definitions, as the monthly KPIs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from recompra.analytics.kpis import kpis_by_range_sql
from recompra.analytics.prepare import FACTS_VIEW, LAPSES_VIEW, RunParams
from recompra.engines.base import Engine
from recompra.engines.duckdb import DuckDBEngine
from recompra.snapshot.io import table_path

#: Sub-directory of an analytics output directory holding the period inputs.
PERIOD_INPUTS_DIR = "period_inputs"
#: The tables the range KPIs read (the names the KPI SQL uses).
PERIOD_INPUTS = (FACTS_VIEW, LAPSES_VIEW, "reviews")


def write_period_inputs(engine: Engine, params: RunParams, directory: Path) -> None:
    """Stream the period inputs from a prepared run into ``directory`` (not collected)."""
    d = engine.dialect
    directory.mkdir(parents=True, exist_ok=True)
    queries = {
        FACTS_VIEW: f"SELECT * FROM {FACTS_VIEW}",
        LAPSES_VIEW: f"SELECT * FROM {LAPSES_VIEW}",
        "reviews": (
            "SELECT customer_id, created_at, score FROM reviews "
            f"WHERE {d.day_number('created_at')} <= {params.as_of_day}"
        ),
    }
    for name, sql in queries.items():
        engine.write_parquet(sql, table_path(directory, name))


def has_period_inputs(directory: Path) -> bool:
    """Whether ``directory`` holds every period input (runs before them did not)."""
    return all(table_path(directory, name).exists() for name in PERIOD_INPUTS)


def kpis_for_ranges(directory: Path, params: RunParams, bounds: Sequence[int]) -> pd.DataFrame:
    """KPIs of the consecutive day ranges between ``bounds`` from the inputs in ``directory``.

    One row per range with any activity, identified by ``period_start`` (the range's first
    day); see :func:`~recompra.analytics.kpis.kpis_by_range_sql`.
    """
    engine = DuckDBEngine(threads=1)
    try:
        engine.register_snapshot(directory, PERIOD_INPUTS)
        frame: pd.DataFrame = engine.query(
            kpis_by_range_sql(engine.dialect, params, bounds)
        ).to_pandas()
        return frame
    finally:
        engine.close()
