"""Full evaluation in DuckDB: the hub rows the rules read, copied once, evaluated columnar.

A full evaluation reads every customer of the brand. On the operational database (SQLite
in particular: one thread, row at a time) that costs seconds of CPU per segment at a
million customers; DuckDB runs the same query in a fraction of it. So a full evaluation

1. compiles the rules with the one compiler (:mod:`recompra.segments.compile`) and
   renders the statement as DuckDB SQL (:meth:`CompiledSegment.duckdb_sql`);
2. copies into an in-process DuckDB the brand's rows of exactly the hub tables and
   columns that statement reads (:class:`HubCopy`, moved as Arrow columns by
   :mod:`recompra.segments.hubrows`) through the caller's connection, so the copy is
   the hub *at evaluation time*, inside the caller's transaction when there is one (no
   snapshot to go stale, no extension needed);
3. runs the statement there, unpivots the 0/1 column of each rule into
   ``(position, customer_id)`` pairs and diffs them against the current members in
   DuckDB, so only entries and exits come back to Python.

The incremental path (one customer, in the writer's unit of work) stays on the hub
database: there the indexed lookups of a few rows win.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
from sqlalchemy import Connection, Select, Table

from recompra.models.segments import SegmentMember
from recompra.segments.compile import CompiledSegment
from recompra.segments.hubrows import brand_scope, copy_rows, tables_read

_MEMBERS: Table = SegmentMember.__table__  # type: ignore[assignment]


class HubCopy:
    """An in-process DuckDB holding the brand's rows of the hub tables rules read."""

    def __init__(self, brand_id: int) -> None:
        self.brand_id = brand_id
        self.duck = duckdb.connect()
        self.duck.execute("SET TimeZone = 'UTC'")
        self.copied: dict[str, set[str]] = {}

    def close(self) -> None:
        """Free the copy's memory."""
        self.duck.close()

    def ensure(self, connection: Connection, statements: Sequence[Select[Any]]) -> None:
        """Copy, through ``connection``, every table (with every column) the statements
        read that is not copied yet."""
        needed: dict[str, set[str]] = {}
        for statement in statements:
            for name, columns in tables_read(statement).items():
                needed.setdefault(name, set()).update(columns)
        metadata = SegmentMember.metadata
        for name, columns in sorted(needed.items()):
            if columns <= self.copied.get(name, set()):
                continue
            columns |= self.copied.get(name, set())
            table = metadata.tables[name]
            # Filtered by brand, every row's brand_id is the brand's: sent as a constant
            # (unless it is the only column read: the rows must still be counted).
            constant = "brand_id" in columns and len(columns) > 1
            copy_rows(
                connection,
                self.duck,
                name,
                table,
                sorted(columns),
                brand_scope(table, self.brand_id),
                {"brand_id": self.brand_id} if constant else None,
            )
            self.copied[name] = columns

    def members_of(
        self, connection: Connection, query: CompiledSegment, values: dict[str, Any]
    ) -> set[int]:
        """Customer ids for which a single-rule statement holds."""
        self.ensure(connection, [query.statement])
        sql, params = query.duckdb_sql(values)
        return {row[0] for row in self.duck.execute(sql, params).fetchall()}

    def diffs(
        self,
        connection: Connection,
        query: CompiledSegment,
        values: dict[str, Any],
        segment_ids: Sequence[int],
        *,
        settled: Sequence[tuple[int, int]] = (),
    ) -> list[MembershipDiff]:
        """Entries, exits and sizes of the segments of a :func:`compile_many` statement.

        ``segment_ids`` are the rules' segments in the statement's order; their current
        members are read through ``connection`` (the writer's). The ``(segment id, customer
        id)`` pairs in ``settled`` keep their membership (a fresher evaluation decided it).
        """
        self.ensure(connection, [query.statement])
        sql, params = query.duckdb_sql(values)
        flags = ", ".join(f"s{position}" for position in range(len(segment_ids)))
        self.duck.execute(
            "CREATE OR REPLACE TEMP TABLE now_in AS "
            "SELECT CAST(substr(flag_name, 2) AS INTEGER) AS position, customer_id "
            f"FROM ({sql}) UNPIVOT (flag FOR flag_name IN ({flags})) WHERE flag = 1",
            params,
        )
        copy_rows(
            connection,
            self.duck,
            "current_rows",
            _MEMBERS,
            ["segment_id", "customer_id"],
            [_MEMBERS.c.segment_id.in_(list(segment_ids))],
        )
        positions = pa.table(
            {
                "segment_id": pa.array(list(segment_ids), pa.int64()),
                "position": pa.array(range(len(segment_ids)), pa.int32()),
            }
        )
        keep = pa.table(
            {
                "segment_id": pa.array([pair[0] for pair in settled], pa.int64()),
                "customer_id": pa.array([pair[1] for pair in settled], pa.int64()),
            }
        )
        self.duck.register("positions", positions)
        self.duck.register("settled", keep)
        try:
            self.duck.execute(
                """
                CREATE OR REPLACE TEMP TABLE was_in AS
                SELECT p.position, m.customer_id
                FROM current_rows m JOIN positions p USING (segment_id);
                CREATE OR REPLACE TEMP TABLE kept AS
                SELECT p.position, s.customer_id
                FROM settled s JOIN positions p USING (segment_id);
                """
            )
            changes = self.duck.execute(
                """
                WITH moved AS (
                    SELECT position, customer_id, true AS entered
                    FROM (SELECT * FROM now_in EXCEPT SELECT * FROM was_in)
                    UNION ALL
                    SELECT position, customer_id, false
                    FROM (SELECT * FROM was_in EXCEPT SELECT * FROM now_in)
                )
                SELECT position, customer_id, entered
                FROM moved ANTI JOIN kept USING (position, customer_id)
                ORDER BY position, customer_id
                """
            ).fetchnumpy()
            sizes = dict(
                self.duck.execute(
                    """
                    SELECT position, count(*) FROM (
                        SELECT * FROM now_in ANTI JOIN kept USING (position, customer_id)
                        UNION ALL
                        SELECT * FROM was_in SEMI JOIN kept USING (position, customer_id)
                    ) GROUP BY position
                    """
                ).fetchall()
            )
        finally:
            for name in ("positions", "settled"):
                self.duck.unregister(name)
        return _split(changes, len(segment_ids), sizes)


@dataclass
class MembershipDiff:
    """One segment's entries and exits (ascending customer ids) and its size after."""

    entered: list[int]
    exited: list[int]
    members: int


def _split(changes: dict[str, Any], segments: int, sizes: dict[int, int]) -> list[MembershipDiff]:
    """Per-position lists from the sorted ``(position, customer_id, entered)`` arrays."""
    position = np.asarray(changes["position"])
    customer = np.asarray(changes["customer_id"])
    entered = np.asarray(changes["entered"], dtype=bool)
    bounds = np.searchsorted(position, np.arange(segments + 1))
    result = []
    for i in range(segments):
        chunk = slice(bounds[i], bounds[i + 1])
        who, flag = customer[chunk], entered[chunk]
        result.append(MembershipDiff(who[flag].tolist(), who[~flag].tolist(), int(sizes.get(i, 0))))
    return result
