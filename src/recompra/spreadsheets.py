"""Spreadsheet files for downloads and exports: CSV that Excel opens with its accents
intact, and XLSX whose cells carry number formats.

One writer for every export (dashboard lists, segment members), so a money column or a
date looks the same in each file. Amounts are passed as :class:`~decimal.Decimal`
currency units, ratios as fractions; times as timezone-aware datetimes, written in
:data:`DISPLAY_TIME_ZONE` because an Excel cell cannot hold a time zone.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from typing import IO, Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

Cell = str | int | Decimal | float | datetime | None
#: Column kinds: how a cell is written to Excel.
TEXT, INTEGER, MONEY, FRACTION, DATETIME = "text", "integer", "money", "fraction", "datetime"
#: ``(header, kind)`` per column.
Column = tuple[str, str]
#: Excel shows times in the store's time zone (the product's default).
DISPLAY_TIME_ZONE = ZoneInfo("America/Sao_Paulo")
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

_EXCEL_FORMATS = {
    MONEY: "#,##0.00",
    FRACTION: "0.0%",
    INTEGER: "0",
    DATETIME: "dd/mm/yyyy hh:mm",
}


def money_units(minor: int | None) -> Decimal | None:
    """Integer minor units as a decimal amount in currency units (two decimals)."""
    return None if minor is None else Decimal(minor).scaleb(-2)


def _text(value: Cell) -> Cell:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def csv_chunks(
    columns: Sequence[Column], rows: Iterable[Sequence[Cell]], *, chunk_chars: int = 64_000
) -> Iterator[str]:
    """A header and ``rows`` as CSV text in chunks of about ``chunk_chars`` (for streaming)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([title for title, _ in columns])
    for row in rows:
        writer.writerow([_text(v) for v in row])
        if buffer.tell() > chunk_chars:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def write_csv(out: IO[str], columns: Sequence[Column], rows: Iterable[Sequence[Cell]]) -> int:
    """Write a header and ``rows`` as CSV to ``out``; return the number of rows."""
    written = 0

    def counted() -> Iterator[Sequence[Cell]]:
        nonlocal written
        for row in rows:
            written += 1
            yield row

    for chunk in csv_chunks(columns, counted()):
        out.write(chunk)
    return written


def csv_bytes(columns: Sequence[Column], rows: Iterable[Sequence[Cell]]) -> bytes:
    """The whole CSV file, UTF-8 with a byte-order mark (Excel then reads accents right)."""
    out = io.StringIO()
    write_csv(out, columns, rows)
    return ("\ufeff" + out.getvalue()).encode("utf-8")


#: Characters Excel refuses in a sheet name (openpyxl raises on them): a user-named
#: segment such as "VIP: 2026" must still export.
_NOT_IN_SHEET_NAME = re.compile(r"[\[\]:*?/\\]")


def _excel_value(value: Cell) -> Any:
    if isinstance(value, str):
        # Control characters are not valid XML; openpyxl raises on them, and one stray
        # byte in a customer's name would fail the whole download.
        return ILLEGAL_CHARACTERS_RE.sub("", value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime in an export; timestamps are timezone-aware")
        return value.astimezone(DISPLAY_TIME_ZONE).replace(tzinfo=None)
    return value


def write_xlsx(
    out: IO[bytes], title: str, columns: Sequence[Column], rows: Iterable[Sequence[Cell]]
) -> int:
    """Write one sheet named ``title`` (Excel allows 31 characters and none of ``[]:*?/\\``;
    they become spaces); return the row count.

    The workbook is write-only, so memory stays flat however many rows there are.
    """
    book = Workbook(write_only=True)
    sheet = book.create_sheet(_NOT_IN_SHEET_NAME.sub(" ", title)[:31] or "Sheet")
    sheet.append([name for name, _ in columns])
    written = 0
    for row in rows:
        cells: list[Any] = []
        for value, (_, kind) in zip(row, columns, strict=True):
            cell = WriteOnlyCell(sheet, value=_excel_value(value))
            if kind in _EXCEL_FORMATS and value is not None:
                cell.number_format = _EXCEL_FORMATS[kind]
            cells.append(cell)
        sheet.append(cells)
        written += 1
    book.save(out)
    return written


def xlsx_bytes(title: str, columns: Sequence[Column], rows: Iterable[Sequence[Cell]]) -> bytes:
    """The whole XLSX file as bytes."""
    out = io.BytesIO()
    write_xlsx(out, title, columns, rows)
    return out.getvalue()


def file_chunks(file: IO[bytes], size: int = 64 * 1024) -> Iterator[bytes]:
    """Read ``file`` in blocks for a streamed response, closing it at the end."""
    with file:
        while block := file.read(size):
            yield block
