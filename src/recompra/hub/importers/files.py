"""Reading source files as text with their physical line numbers."""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from recompra.hub.parsing import ParseOptions
from recompra.hub.rejects import ImportReport
from recompra.hub.validate import LINE, Field, validate_frame

csv.field_size_limit(10_000_000)


def find_file(directory: Path, stem: str) -> Path | None:
    """``stem.csv``, ``stem.csv.gz`` or ``stem.parquet`` inside ``directory``, if present."""
    for suffix in (".csv", ".csv.gz", ".parquet"):
        candidate = directory / f"{stem}{suffix}"
        if candidate.exists():
            return candidate
    return None


def _open_text(path: Path, encoding: str) -> io.TextIOBase:
    # utf-8-sig drops the byte-order mark some exports (Olist's translation file) carry.
    enc = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding=enc, newline="")
    return open(path, encoding=enc, newline="")


def _records(path: Path, options: ParseOptions) -> Iterator[tuple[int, list[str]]]:
    with _open_text(path, options.encoding) as handle:
        reader = csv.reader(handle, delimiter=options.delimiter)
        start = 1
        for row in reader:
            yield start, row
            start = reader.line_num + 1


def _float_text(column: pd.Series) -> pd.Series:
    """Floats as a CSV would write them: ``17850.0`` is ``17850`` (ids in float columns).

    pandas stores an integer column with gaps as floats; written as ``17850.0`` the same
    customer id would not match the ``17850`` of a CSV export.
    """
    integral = column.notna() & (column == column.round())
    text = column.astype(str)
    return text.where(~integral, column.where(integral, 0).astype("int64").astype(str))


def _parquet_as_text(frame: pd.DataFrame) -> pd.DataFrame:
    columns = {
        name: _float_text(values) if pd.api.types.is_float_dtype(values) else values.astype(str)
        for name, values in frame.items()
    }
    return pd.DataFrame(columns).replace({"None": "", "nan": "", "NaT": ""})


def read_table(path: Path, options: ParseOptions) -> pd.DataFrame:
    """Read a CSV (plain or gzipped) or Parquet file as text columns plus ``_line``.

    ``_line`` is the physical line where the record starts (the header is line 1), so a
    reject points at the line an editor shows even when quoted fields span lines. For
    Parquet, ``_line`` is the 1-based row number plus one, like a CSV with a header.
    A row with the wrong number of fields gets ``_fields_error`` set.
    """
    if path.suffix == ".parquet":
        frame = _parquet_as_text(pd.read_parquet(path))
        frame[LINE] = range(2, len(frame) + 2)
        return frame
    records = _records(path, options)
    try:
        _, header = next(records)
    except StopIteration:
        return pd.DataFrame({LINE: []})
    header = [h.strip() for h in header]
    width = len(header)
    lines: list[int] = []
    rows: list[list[str]] = []
    errors: list[str] = []
    for line, row in records:
        if not row:
            continue
        lines.append(line)
        if len(row) == width:
            rows.append(row)
            errors.append("")
        else:
            rows.append((row + [""] * width)[:width])
            errors.append(f"expected {width} fields, found {len(row)}")
    frame = pd.DataFrame(rows, columns=header, dtype=object)
    frame[LINE] = lines
    frame["_fields_error"] = errors
    return frame


def read_validated(
    path: Path, fields: list[Field], *, entity: str, options: ParseOptions, report: ImportReport
) -> pd.DataFrame:
    """The valid typed rows of ``path`` (problems recorded in ``report`` under ``entity``)."""
    return validate_frame(
        read_table(path, options),
        fields,
        entity=entity,
        file=path.name,
        options=options,
        report=report,
    )
