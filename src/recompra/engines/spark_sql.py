"""Spark engine: the same analytics SQL on Apache Spark (local mode or a cluster).

The snapshot is read with ``spark.read.parquet`` so the job runs unchanged on a cluster
whose executors see the snapshot directory (HDFS, S3, a shared volume). The master URL
comes from the argument, ``RECOMPRA_SPARK_MASTER``, or ``local[2]``
(see :func:`recompra.engines.spark.get_spark`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from recompra.engines.spark import get_spark
from recompra.snapshot.io import table_path
from recompra.snapshot.schema import SCHEMAS

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


class SparkDialect:
    """SQL fragments specific to Spark SQL."""

    name = "spark"

    def day_number(self, timestamp_sql: str) -> str:
        """Return SQL for the UTC day of a timestamp as days since 1970-01-01."""
        # to_date uses the session time zone, which get_spark pins to UTC.
        return f"unix_date(to_date({timestamp_sql}))"

    def utc_timestamp(self, timestamp_sql: str) -> str:
        """Return ``timestamp_sql`` unchanged: the session time zone is UTC."""
        return timestamp_sql

    def date_from_day(self, day_sql: str) -> str:
        """Return SQL for the date ``day_sql`` days after 1970-01-01."""
        return f"date_from_unix_date(CAST({day_sql} AS INT))"

    def quantile(self, value_sql: str, fraction: float) -> str:
        """Return the interpolated (type 7) ``fraction`` quantile of ``value_sql``."""
        # percentile is exact (percentile_approx is not): it collects the group's values.
        return f"percentile(CAST({value_sql} AS DOUBLE), {float(fraction)!r})"


class SparkEngine:
    """Run analytics SQL on a SparkSession.

    Parameters
    ----------
    spark
        An existing session; when omitted one is created with ``get_spark(master)``.
    master
        Spark master URL used when ``spark`` is omitted.
    """

    name = "spark"

    def __init__(self, spark: SparkSession | None = None, *, master: str | None = None) -> None:
        self._dialect = SparkDialect()
        self.spark: SparkSession = spark if spark is not None else get_spark(master)
        if self.spark.conf.get("spark.sql.session.timeZone") != "UTC":
            self.spark.conf.set("spark.sql.session.timeZone", "UTC")
        self._views: list[str] = []
        self._cached: list[Any] = []

    @property
    def dialect(self) -> SparkDialect:
        """The SQL dialect hooks of this engine."""
        return self._dialect

    def register_snapshot(self, directory: Path, tables: Iterable[str] | None = None) -> None:
        """Create a temporary view per snapshot table over its Parquet file or directory."""
        for name in SCHEMAS if tables is None else tables:
            path = table_path(Path(directory), name)
            if not path.exists() and "://" not in str(path):
                raise FileNotFoundError(f"snapshot table {name!r} not found at {path}")
            frame = self.spark.read.parquet(str(path))
            frame.createOrReplaceTempView(name)
            self._views.append(name)

    def register_tables(self, tables: Mapping[str, pa.Table]) -> None:
        """Create a temporary view per in-memory Arrow table (shipped through pandas)."""
        for name, table in tables.items():
            # Arrow-enabled conversion (see get_spark); fine for the driver-sized tables
            # callers hand over, a snapshot directory is the way in at scale.
            frame = self.spark.createDataFrame(table.to_pandas())
            frame.createOrReplaceTempView(name)
            self._views.append(name)

    def materialize(self, name: str, sql: str) -> None:
        """Cache the result of ``sql`` and expose it as the temporary view ``name``."""
        frame = self.spark.sql(sql).cache()
        frame.count()  # materialise the cache now, once
        frame.createOrReplaceTempView(name)
        self._views.append(name)
        self._cached.append(frame)

    def query(self, sql: str) -> pa.Table:
        """Run ``sql`` and return an Arrow table."""
        frame = self.spark.sql(sql)
        if hasattr(frame, "toArrow"):
            result: pa.Table = frame.toArrow()
            return result
        return pa.Table.from_pandas(frame.toPandas(), preserve_index=False)

    def write_parquet(self, sql: str, path: Path) -> None:
        """Write the result of ``sql`` as a Parquet part directory at ``path`` (on the cluster)."""
        self.spark.sql(sql).write.mode("overwrite").parquet(str(path))

    def close(self) -> None:
        """Drop the views and cached results (the session itself stays up)."""
        for frame in self._cached:
            frame.unpersist()
        for name in self._views:
            self.spark.catalog.dropTempView(name)
        self._views.clear()
        self._cached.clear()
