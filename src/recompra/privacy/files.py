"""Erasure in the files under ``RECOMPRA_HOME``: snapshots, model outputs, import reports
and the message logs.

Parquet is compressed, so a byte search cannot tell whether a file holds a value: each
Parquet file is decoded, the erased customers' personal columns are nulled and their
identifiers replaced in every text column, and the file is rewritten only when it
changed. Stored messages (``.eml``) addressed to or mentioning the person are deleted: a
message log has no anonymised fact worth keeping. Other text files (CSV, JSON, logs)
have the identifiers replaced. The SQLite database is handled by
:func:`recompra.privacy.service.compact_sqlite`, not here.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from recompra.privacy.erasure import scrub_value

#: Snapshot and output columns that describe the person (nulled on the erased ids' rows).
PERSONAL_PARQUET_COLUMNS = frozenset(
    {"name", "email", "document", "phone", "birth_date", "city", "zip_prefix"}
)
_MESSAGE_SUFFIXES = (".eml", ".part")
_TEXT_SUFFIXES = (".csv", ".json", ".jsonl", ".txt", ".log", ".html", ".md", ".tsv", ".ndjson")


@dataclass
class FileErasure:
    """Files changed by an erasure, relative to the data directory."""

    rewritten: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)


def _is_database(path: Path, database: Path | None) -> bool:
    return database is not None and path.name.startswith(database.name)


def _replace_file(path: Path, data: bytes) -> None:
    """Write ``data`` over ``path`` in place (not a new file beside it, so that no copy
    of the old content stays behind under another name)."""
    with path.open("r+b") as out:
        out.write(data)
        out.truncate()
        out.flush()
        os.fsync(out.fileno())


def _scrub_parquet(path: Path, customer_ids: set[int], values: list[str]) -> bool:
    table = pq.read_table(path)
    changed = False
    columns = []
    for name in table.column_names:
        column = table[name]
        if name in PERSONAL_PARQUET_COLUMNS and "customer_id" in table.column_names:
            erased = pc.is_in(table["customer_id"], value_set=pa.array(sorted(customer_ids)))
            if pc.any(erased).as_py():
                column = pc.if_else(erased, pa.scalar(None, column.type), column)
                changed = True
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            cells = column.to_pylist()
            scrubbed = [scrub_value(c, values) for c in cells]
            if scrubbed != cells:
                column = pa.chunked_array([pa.array(scrubbed, type=column.type)])
                changed = True
        columns.append(column)
    if changed:
        rebuilt = pa.Table.from_arrays(columns, schema=table.schema)
        temporary = path.with_name(path.name + ".erasing")
        pq.write_table(rebuilt, temporary, compression="zstd")
        _replace_file(path, temporary.read_bytes())
        temporary.unlink()
    return changed


def _mentions(data: bytes, values: Iterable[str]) -> bool:
    lowered = data.lower()
    return any(v.lower().encode() in lowered for v in values)


def erase_in_files(
    home: Path, customer_ids: set[int], values: list[str], *, database: Path | None
) -> FileErasure:
    """Remove the customers' personal data from every file under ``home``."""
    result = FileErasure()
    if not home.exists():
        return result
    for path in sorted(p for p in home.rglob("*") if p.is_file()):
        if _is_database(path, database):
            continue
        relative = str(path.relative_to(home))
        suffix = path.suffix.lower()
        if suffix == ".parquet":
            if _scrub_parquet(path, customer_ids, values):
                result.rewritten.append(relative)
        elif suffix in _MESSAGE_SUFFIXES:
            if values and _mentions(path.read_bytes(), values):
                path.unlink()
                result.deleted.append(relative)
        elif suffix in _TEXT_SUFFIXES:
            text = path.read_text(encoding="utf-8", errors="surrogateescape")
            scrubbed = scrub_value(text, values)
            if scrubbed != text:
                _replace_file(path, scrubbed.encode("utf-8", errors="surrogateescape"))
                result.rewritten.append(relative)
    return result
