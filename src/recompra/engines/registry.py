"""Create an engine by name (``duckdb`` or ``spark``) for the analytics and recommend SQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
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


@contextmanager
def open_engine(
    name: str, *, spark_master: str | None = None, spark: Any = None
) -> Iterator[Engine]:
    """Yield a fresh engine ``name`` (see :func:`create_engine`) and close it afterwards."""
    engine = create_engine(name, spark_master=spark_master, spark=spark)
    try:
        yield engine
    finally:
        engine.close()
