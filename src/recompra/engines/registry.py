"""Create an analytics engine by name (``duckdb`` or ``spark``)."""

from __future__ import annotations

from typing import Any

from recompra.engines.base import Engine

ENGINES = ("duckdb", "spark")


def create_engine(name: str, *, spark_master: str | None = None, spark: Any = None) -> Engine:
    """Return a fresh engine ``name``.

    Parameters
    ----------
    name
        ``"duckdb"`` (embedded, the default) or ``"spark"``.
    spark_master
        Spark master URL (``local[2]``, ``spark://host:7077``, ...); falls back to
        ``RECOMPRA_SPARK_MASTER``. Ignored for DuckDB.
    spark
        An existing SparkSession to reuse (tests share one).
    """
    if name == "duckdb":
        from recompra.engines.duckdb import DuckDBEngine

        return DuckDBEngine()
    if name == "spark":
        from recompra.engines.spark_sql import SparkEngine

        return SparkEngine(spark, master=spark_master)
    raise ValueError(f"unknown engine {name!r}; expected one of {ENGINES}")
