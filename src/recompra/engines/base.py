"""The engine contract shared by DuckDB and Spark, and the SQL dialect hooks.

Every metric in :mod:`recompra.analytics` is one SQL text. The text is written in the
subset of SQL that DuckDB and Spark SQL both accept (window functions, ``CASE``,
``COALESCE``, ``GREATEST``, ``make_date``, ``year``/``month``/``quarter``, integer
arithmetic). The only constructs that differ between the two engines, converting a UTC
timestamp or date to a day number, a day number to a date and a timestamp to UTC
wall-clock time, and the interpolated quantile aggregate, are the :class:`Dialect` hooks
below; the analytics SQL calls them while it is being built, so the query text each
engine runs differs only there.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Protocol

import pyarrow as pa


class Dialect(Protocol):
    """SQL fragments that differ between engines."""

    name: str

    def day_number(self, timestamp_sql: str) -> str:
        """Return SQL for the UTC calendar day of ``timestamp_sql`` as days since 1970-01-01."""
        ...

    def utc_timestamp(self, timestamp_sql: str) -> str:
        """Return SQL for ``timestamp_sql`` as a UTC wall-clock timestamp (for ``year()`` etc.)."""
        ...

    def date_from_day(self, day_sql: str) -> str:
        """Return SQL for the ``DATE`` that is ``day_sql`` days after 1970-01-01."""
        ...

    def quantile(self, value_sql: str, fraction: float) -> str:
        """Return the aggregate SQL for the ``fraction`` quantile of ``value_sql``.

        Linear interpolation between the closest ranks (Hyndman & Fan 1996, type 7, as
        ``numpy.percentile``'s default); ``NULL`` values are ignored.
        """
        ...


class Engine(Protocol):
    """A SQL engine that reads a snapshot and runs the analytics and recommendation queries."""

    name: str

    @property
    def dialect(self) -> Dialect:
        """The SQL dialect hooks of this engine."""
        ...

    def register_snapshot(self, directory: Path, tables: Iterable[str] | None = None) -> None:
        """Expose the snapshot tables of ``directory`` (default: every one) as views."""
        ...

    def register_tables(self, tables: Mapping[str, pa.Table]) -> None:
        """Expose in-memory Arrow tables as views named after their keys."""
        ...

    def materialize(self, name: str, sql: str) -> None:
        """Compute ``sql`` once and expose the result as the view ``name``."""
        ...

    def query(self, sql: str) -> pa.Table:
        """Run ``sql`` and return the result as an Arrow table."""
        ...

    def write_parquet(self, sql: str, path: Path) -> None:
        """Run ``sql`` and write the result as Parquet at ``path`` without collecting it."""
        ...

    def close(self) -> None:
        """Release the views and tables this engine created."""
        ...
