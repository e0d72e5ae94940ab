"""DuckDB and Spark run the same metric definitions and must give equal results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from recompra.analytics import AnalyticsResult, run_analytics

from ._random import write_random_snapshot


def _assert_same(left: AnalyticsResult, right: AnalyticsResult) -> None:
    assert left.as_of == right.as_of
    for name, table in left.tables().items():
        other = right.tables()[name]
        pd.testing.assert_frame_equal(
            table.reset_index(drop=True),
            other.reset_index(drop=True),
            check_exact=False,
            rtol=1e-12,
            obj=name,
        )
    assert left.summary.keys() == right.summary.keys()
    for key, value in left.summary.items():
        if key == "engine":
            continue
        if isinstance(value, float):
            assert right.summary[key] == pytest.approx(value, rel=1e-12, nan_ok=True), key
        else:
            assert right.summary[key] == value, key


@pytest.mark.spark
@pytest.mark.slow
def test_duckdb_and_spark_agree_on_every_table(spark: Any, tmp_path: Path) -> None:
    # Spark start and per-query overhead are large, so one run covers everything: a
    # random snapshot with ties, same-second orders, returns, reviews and canceled orders.
    random_snapshot = write_random_snapshot(tmp_path / "random")
    duck = run_analytics(random_snapshot, "duckdb", churn_days=90)
    on_spark = run_analytics(random_snapshot, "spark", spark=spark, churn_days=90)
    assert duck.engine == "duckdb"
    assert on_spark.engine == "spark"
    assert len(duck.scores) > 30
    _assert_same(duck, on_spark)
