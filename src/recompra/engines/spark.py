"""Spark session management (local mode by default, any master URL for a real cluster)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

DEFAULT_MASTER = "local[2]"


def get_spark(master: str | None = None, app_name: str = "recompra") -> SparkSession:
    """Return a (cached) SparkSession.

    ``master`` defaults to ``RECOMPRA_SPARK_MASTER`` or ``local[2]``. The session runs in
    UTC so that timestamps and date truncation agree with DuckDB, and uses few shuffle
    partitions because the local machines have two cores.
    """
    from pyspark.sql import SparkSession

    master = master or os.environ.get("RECOMPRA_SPARK_MASTER", DEFAULT_MASTER)
    builder = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", os.environ.get("RECOMPRA_SPARK_PARTITIONS", "4"))
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.driver.memory", os.environ.get("RECOMPRA_SPARK_DRIVER_MEMORY", "4g"))
        .config("spark.driver.extraJavaOptions", "-Duser.timezone=UTC")
        .config("spark.executor.extraJavaOptions", "-Duser.timezone=UTC")
    )
    return builder.getOrCreate()
