"""Reading and writing snapshot directories (Parquet, validated against the schemas)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from recompra.snapshot.schema import OPTIONAL_COLUMNS, SCHEMAS

MANIFEST = "manifest.json"


def table_path(directory: Path, table: str) -> Path:
    """Return the path of ``table`` inside a snapshot directory (file or part directory)."""
    return Path(directory) / f"{table}.parquet"


def conform(table: pa.Table, name: str) -> pa.Table:
    """Cast ``table`` to the snapshot schema of ``name`` (column order and types)."""
    schema = SCHEMAS[name]
    for column, default in OPTIONAL_COLUMNS.get(name, {}).items():
        if column not in table.column_names:
            field = schema.field(column)
            table = table.append_column(field, pa.array([default] * table.num_rows, field.type))
    missing = [f.name for f in schema if f.name not in table.column_names]
    if missing:
        raise ValueError(f"snapshot table {name!r} lacks columns {missing}")
    return table.select(schema.names).cast(schema)


def write_snapshot(
    directory: Path, tables: Mapping[str, pa.Table], *, as_of: datetime | None = None
) -> Path:
    """Write ``tables`` (missing ones as empty tables) and a manifest into ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    for name, schema in SCHEMAS.items():
        table = conform(tables[name], name) if name in tables else schema.empty_table()
        pq.write_table(table, table_path(directory, name), compression="zstd")
        counts[name] = table.num_rows
    manifest = {
        "written_at": datetime.now(UTC).isoformat(),
        "as_of": as_of.isoformat() if as_of else None,
        "row_counts": counts,
    }
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return directory


def read_table(directory: Path, name: str) -> pa.Table:
    """Read one snapshot table (a single file or a directory of parts)."""
    path = table_path(Path(directory), name)
    if not path.exists():
        raise FileNotFoundError(f"snapshot table {name!r} not found at {path}")
    return conform(pq.read_table(path), name)


def read_snapshot(directory: Path) -> dict[str, pa.Table]:
    """Read every snapshot table of ``directory`` into memory."""
    return {name: read_table(directory, name) for name in SCHEMAS}
