"""DuckDB engine: the embedded default. Reads snapshot Parquet files in place."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import duckdb
import pyarrow as pa

from recompra.snapshot.io import table_path
from recompra.snapshot.schema import SCHEMAS


class DuckDBDialect:
    """SQL fragments specific to DuckDB."""

    name = "duckdb"

    # Epoch arithmetic instead of casts/date parts on TIMESTAMPTZ: those go through ICU
    # time zone calendars, measured 5-6x slower on 10M rows (4.8 s vs 0.8 s for
    # year+month+quarter, 2.1 s vs 0.3 s for the day number).

    def day_number(self, timestamp_sql: str) -> str:
        """Return SQL for the UTC day of a timestamp or date as days since 1970-01-01."""
        return f"CAST(floor(epoch_us({timestamp_sql}) / 86400000000) AS BIGINT)"

    def utc_timestamp(self, timestamp_sql: str) -> str:
        """Return SQL for the naive UTC ``TIMESTAMP`` of a ``TIMESTAMPTZ``."""
        return f"make_timestamp(epoch_us({timestamp_sql}))"

    def date_from_day(self, day_sql: str) -> str:
        """Return SQL for the date ``day_sql`` days after 1970-01-01."""
        return f"CAST(DATE '1970-01-01' + CAST({day_sql} AS INTEGER) AS DATE)"

    def quantile(self, value_sql: str, fraction: float) -> str:
        """Return the interpolated (type 7) ``fraction`` quantile of ``value_sql``."""
        # quantile_cont keeps an integer input's type; the cast keeps the interpolation.
        return f"quantile_cont(CAST({value_sql} AS DOUBLE), {float(fraction)!r})"


class DuckDBEngine:
    """Run analytics SQL on an in-process DuckDB connection.

    Parameters
    ----------
    threads
        Worker threads; defaults to ``RECOMPRA_DUCKDB_THREADS`` or DuckDB's own default
        (all cores).
    memory_limit
        Optional DuckDB memory limit such as ``"4GB"``.
    """

    name = "duckdb"

    def __init__(self, *, threads: int | None = None, memory_limit: str | None = None) -> None:
        self._dialect = DuckDBDialect()
        self.con = duckdb.connect(database=":memory:")
        # Timestamps are stored in UTC; day and month boundaries are UTC on every engine.
        self.con.execute("SET TimeZone = 'UTC'")
        self.con.execute("SET enable_progress_bar = false")
        # Every query that returns rows orders them itself (Spark keeps no insertion order
        # either); not preserving it lets DuckDB materialise and window in parallel with
        # less memory.
        self.con.execute("SET preserve_insertion_order = false")
        env_threads = os.environ.get("RECOMPRA_DUCKDB_THREADS")
        if threads is None and env_threads:
            threads = int(env_threads)
        if threads is not None:
            self.con.execute(f"SET threads = {int(threads)}")
        if memory_limit is not None:
            self.con.execute(f"SET memory_limit = '{memory_limit.replace(chr(39), '')}'")

    @property
    def dialect(self) -> DuckDBDialect:
        """The SQL dialect hooks of this engine."""
        return self._dialect

    def register_snapshot(self, directory: Path, tables: Iterable[str] | None = None) -> None:
        """Create a view per snapshot table over its Parquet file or part directory."""
        for name in SCHEMAS if tables is None else tables:
            path = table_path(Path(directory), name)
            if path.is_dir():
                pattern = str(path / "**" / "*.parquet")
            elif path.exists():
                pattern = str(path)
            else:
                raise FileNotFoundError(f"snapshot table {name!r} not found at {path}")
            literal = pattern.replace("'", "''")
            self.con.execute(
                f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM read_parquet('{literal}')"
            )

    def register_tables(self, tables: Mapping[str, pa.Table]) -> None:
        """Create a view per in-memory Arrow table (read in place, not copied)."""
        for name, table in tables.items():
            self.con.register(f"_{name}_arrow", table)
            self.con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM _{name}_arrow")

    def materialize(self, name: str, sql: str) -> None:
        """Store the result of ``sql`` in a temporary table ``name``."""
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}")

    def query(self, sql: str) -> pa.Table:
        """Run ``sql`` and return an Arrow table."""
        relation = self.con.sql(sql)
        # DuckDB 2.x names it to_arrow_table, 1.x arrow.
        fetch = getattr(relation, "to_arrow_table", None) or relation.arrow
        result: pa.Table = fetch()
        return result

    def write_parquet(self, sql: str, path: Path) -> None:
        """Stream the result of ``sql`` into one Parquet file at ``path``."""
        literal = str(path).replace("'", "''")
        self.con.execute(f"COPY ({sql}) TO '{literal}' (FORMAT parquet, COMPRESSION zstd)")

    def close(self) -> None:
        """Close the connection."""
        self.con.close()
