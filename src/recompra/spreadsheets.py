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
import math
import re
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from html import escape
from typing import IO
from zoneinfo import ZoneInfo

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


# An XLSX file is a zip of XML parts. The sheet is written as text here: openpyxl builds
# an object and an XML element per cell and serialises them in pure Python, which cost
# about 0.3 ms a row, most of a 3,000-customer export (docs/dashboard.md, "Exports").
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
_DOC_RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_CONTENT_TYPES = (
    _XML + '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/styles.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/></Types>'
)
_PACKAGE_RELS = (
    f'{_XML}<Relationships xmlns="{_RELS}"><Relationship Id="rId1" '
    f'Type="{_DOC_RELS}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
)
_WORKBOOK_RELS = (
    f'{_XML}<Relationships xmlns="{_RELS}">'
    f'<Relationship Id="rId1" Type="{_DOC_RELS}/worksheet" Target="worksheets/sheet1.xml"/>'
    f'<Relationship Id="rId2" Type="{_DOC_RELS}/styles" Target="styles.xml"/></Relationships>'
)
#: Custom number formats get ids from 164 (lower ones are Excel's built-in formats).
_FORMAT_IDS = {kind: 164 + i for i, kind in enumerate(_EXCEL_FORMATS)}
#: Cell style index per column kind: 0 is the default (text), then one per format.
_STYLE_INDEX = {kind: 1 + i for i, kind in enumerate(_EXCEL_FORMATS)}
_STYLES = (
    f'{_XML}<styleSheet xmlns="{_MAIN}"><numFmts count="{len(_EXCEL_FORMATS)}">'
    + "".join(
        f'<numFmt numFmtId="{_FORMAT_IDS[kind]}" formatCode="{escape(code)}"/>'
        for kind, code in _EXCEL_FORMATS.items()
    )
    + '</numFmts><fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/>'
    f'</cellStyleXfs><cellXfs count="{1 + len(_EXCEL_FORMATS)}">'
    '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    + "".join(
        f'<xf numFmtId="{_FORMAT_IDS[kind]}" fontId="0" fillId="0" borderId="0" xfId="0" '
        'applyNumberFormat="1"/>'
        for kind in _EXCEL_FORMATS
    )
    + '</cellXfs><cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/>'
    "</cellStyles></styleSheet>"
)
#: Characters XML 1.0 cannot carry (C0 controls but tab, newline and carriage return).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
#: Excel's day 0 (its serial dates count days from here, 1900 leap-year bug included),
#: as a UTC time to subtract the store's wall-clock time (labelled UTC) from.
_EXCEL_EPOCH = datetime(1899, 12, 30, tzinfo=UTC)
#: Characters a sheet name may not hold.
_NOT_IN_SHEET_NAME = re.compile(r"[\[\]:*?/\\]")


def _column_letter(index: int) -> str:
    """``A`` for 0, ``Z`` for 25, ``AA`` for 26..."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _text_cell(ref: str, text: str) -> str:
    text = escape(_NOT_XML.sub("", text), quote=False)
    return f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{text}</t></is></c>'


def _cell(ref: str, value: Cell, kind: str) -> str:
    """One ``<c>`` element (empty string for an empty cell)."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        return _text_cell(ref, value)
    style = f' s="{_STYLE_INDEX[kind]}"' if kind in _STYLE_INDEX else ""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime in an export; timestamps are timezone-aware")
        # An Excel cell has no time zone: it holds the store's wall-clock time.
        wall_clock = value.astimezone(DISPLAY_TIME_ZONE).replace(tzinfo=UTC)
        number = repr((wall_clock - _EXCEL_EPOCH) / timedelta(days=1))
    elif isinstance(value, Decimal):
        number = format(value, "f")
    elif isinstance(value, float) and not math.isfinite(value):
        return _text_cell(ref, str(value))  # a number cell cannot hold NaN or infinity
    else:
        number = repr(value)
    return f'<c r="{ref}"{style}><v>{number}</v></c>'


def write_xlsx(
    out: IO[bytes], title: str, columns: Sequence[Column], rows: Iterable[Sequence[Cell]]
) -> int:
    """Write one sheet named ``title`` (Excel allows 31 characters and none of
    ``[]:*?/\\``); return the row count.

    Rows are streamed into the zip's sheet part, so memory stays flat however many there
    are. Text cells are inline strings (no shared-string table to hold in memory).
    """
    letters = [_column_letter(i) for i in range(len(columns))]
    name = escape(_NOT_IN_SHEET_NAME.sub(" ", title)[:31] or "Sheet")
    written = 0
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as book:
        book.writestr("[Content_Types].xml", _CONTENT_TYPES)
        book.writestr("_rels/.rels", _PACKAGE_RELS)
        book.writestr(
            "xl/workbook.xml",
            f'{_XML}<workbook xmlns="{_MAIN}" xmlns:r="{_DOC_RELS}"><sheets>'
            f'<sheet name="{name}" sheetId="1" r:id="rId1"/></sheets></workbook>',
        )
        book.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        book.writestr("xl/styles.xml", _STYLES)
        with book.open("xl/worksheets/sheet1.xml", "w") as sheet:
            header = "".join(
                _text_cell(f"{letter}1", heading)
                for letter, (heading, _) in zip(letters, columns, strict=True)
            )
            sheet.write(
                f'{_XML}<worksheet xmlns="{_MAIN}"><sheetData><row r="1">{header}</row>'.encode()
            )
            chunk: list[str] = []
            for row in rows:
                written += 1
                number = written + 1
                cells = "".join(
                    _cell(f"{letter}{number}", value, kind)
                    for letter, value, (_, kind) in zip(letters, row, columns, strict=True)
                )
                chunk.append(f'<row r="{number}">{cells}</row>')
                if len(chunk) == 1000:
                    sheet.write("".join(chunk).encode())
                    chunk.clear()
            sheet.write(("".join(chunk) + "</sheetData></worksheet>").encode())
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
