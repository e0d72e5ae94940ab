"""The XLSX writer, read back by openpyxl (an independent reader): values, types, number
formats, times in the store's zone, awkward text and the sheet name."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from decimal import Decimal

from openpyxl import load_workbook

from recompra.spreadsheets import DATETIME, FRACTION, INTEGER, MONEY, TEXT, xlsx_bytes

#: What Excel shows (a cell has no zone), as openpyxl reads it back: a naive datetime.
SAO_PAULO_NOON_THIRTY = datetime(2024, 3, 5, 12, 30, tzinfo=UTC).replace(tzinfo=None)
COLUMNS = [
    ("id", INTEGER),
    ("Nome & <e-mail>", TEXT),
    ("Receita", MONEY),
    ("Churn", FRACTION),
    ("Última compra", DATETIME),
]


def test_cells_keep_their_values_types_and_formats() -> None:
    rows = [
        # 15:30 UTC is 12:30 in São Paulo (UTC-3, no daylight saving since 2019).
        [
            1,
            "  Ana <ana@x.com> & \x07Cia ",
            Decimal("1234.50"),
            0.25,
            datetime(2024, 3, 5, 15, 30, tzinfo=UTC),
        ],
        [27, None, None, None, None],
    ]
    book = load_workbook(
        io.BytesIO(xlsx_bytes("Clientes: [ativos]/2024 e mais texto aqui", COLUMNS, rows))
    )
    assert book.sheetnames == ["Clientes   ativos  2024 e mais t"[:31]]
    sheet = book.active
    assert sheet is not None
    got = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert got[0] == [title for title, _ in COLUMNS]
    assert got[1] == [1, "  Ana <ana@x.com> & Cia ", 1234.5, 0.25, SAO_PAULO_NOON_THIRTY]
    assert got[2] == [27, None, None, None, None]
    formats = [cell.number_format for cell in sheet[2]]
    assert formats == ["0", "General", "#,##0.00", "0.0%", "dd/mm/yyyy hh:mm"]
    assert sheet.max_row == 3


def test_many_rows_and_columns_past_z() -> None:
    columns = [(f"c{i}", INTEGER) for i in range(30)]
    rows = [[r * 100 + i for i in range(30)] for r in range(2_500)]
    sheet = load_workbook(io.BytesIO(xlsx_bytes("x", columns, rows)), read_only=True).active
    assert sheet is not None
    values = [list(row) for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert values == rows
    assert sheet.cell(1, 28).value == "c27"  # column AB
