"""Import integrity (issue 11): every problem reported, nothing changed silently.

One store export holds every case; the expected rejects, duplicates, matched returns and
flags below are written by hand from the rows, line by line (the header is line 1).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine, select

from dbtest import BACKENDS, create_test_engine
from recompra.db import unit_of_work
from recompra.errors import InvalidInput
from recompra.hub.brands import ensure_brand
from recompra.hub.importers.csv_mapping import import_mapped_files, load_mapping
from recompra.hub.rejects import ImportReport
from recompra.hub.rules import NO_IDENTITY, UNKNOWN_STATUS
from recompra.hub.stats import table_counts
from recompra.models import (
    Customer,
    CustomerIdentity,
    Order,
    OrderItem,
    Product,
    Return,
    ReturnItem,
)

HEADER = "Pedido;Data;Cliente;Produto;Descrição;Qtd;Preço;Desconto;Status"
ROWS = [
    "1001;05/01/2026 10:00;C1;P1;Sabonete;2;12,50;;entregue",  # 2
    "1001;05/01/2026 10:00;C1;P2;Shampoo;1;30,00;;entregue",  # 3
    "1002;06/01/2026 10:00;C1;P1;Sabonete;1;-35,00;;entregue",  # 4 negative price
    "1003;06/01/2026 11:00;C2;P1;Sabonete;0;12,50;;entregue",  # 5 quantity 0
    "1004;06/01/2026 12:00;C2;P1;Sabonete;1;12,50;;status-estranho",  # 6 unknown status
    "1005;07/01/2026 10:00;C3;P3;Vela;1;10,00;;entregue",  # 7
    "1005;07/01/2026 10:00;C3;P3;Vela;1;10,00;;entregue",  # 8 exact duplicate of 7
    "1006;07/01/2026 11:00;C3;P1;Sabonete;1;35.5;;entregue",  # 9 ambiguous number
    "1007;31/02/2026 10:00;C3;P1;Sabonete;abc;12,50;;entregue",  # 10 two problems
    "1008;;C3;P1;Sabonete;1;12,50;;entregue",  # 11 empty date
    "1009;08/01/2026 10:00;C4;P1;Sabonete;1;12,50;20,00;entregue",  # 12 discount > price
    "1010;08/01/2026 11:00;C4;P1;Sabonete;1;12,50;;entregue",  # 13 good line, bad order
    "1010;08/01/2026 11:00;C4;P2;Shampoo;x;30,00;;entregue",  # 14 bad second line
    "1011;09/01/2026 10:00;C5;P4;Nome A;1;5,00;;entregue",  # 15
    "1012;10/01/2026 10:00;C5;P4;Nome B;1;5,00;;entregue",  # 16 newer name of P4
    "C2001;11/01/2026 10:00;C1;P1;Sabonete;-1;12,50;;",  # 17 returns 1 of 1001's P1
    "C2002;11/01/2026 10:00;C1;P3;Vela;-1;10,00;;",  # 18 C1 never bought P3
    "1013;12/01/2026 10:00;C1;P1;Sabonete;1;12,50;;entregue",  # 19
    "1013;12/01/2026 10:00;C1;POST;Postage;1;18,00;;entregue",  # 20 non-merchandise
    "1014;12/01/2026 10:00;;P1;Sabonete;2;12,50;;entregue",  # 21 no customer
    "1015;13/01/2026 10:00;C6;P5;Amostra;1;0,00;;entregue",  # 22 free sample
]
MAPPING = """
source: varejo
delimiter: ";"
decimal: ","
date_formats: ["%d/%m/%Y %H:%M"]
timezone: UTC
cancellation:
  invoice_prefix: "C"
non_merchandise:
  products: [POST]
columns:
  order_id: Pedido
  purchased_at: Data
  customer_id: Cliente
  product_id: Produto
  product_name: Descrição
  quantity: Qtd
  unit_price: Preço
  discount: Desconto
  status: Status
"""

NO_SUCH_DATE = "no such date: the format is right but the day does not exist"
AMBIGUOUS = (
    "ambiguous amount: the mapping's decimal separator is ',' and '.' is not "
    "a thousands separator here"
)
EXPECTED_REJECTS = [
    (4, "unit_price", "-35,00", "must be at least 0"),
    (5, "quantity", "0", "must be at least 1"),
    (6, "status", "status-estranho", UNKNOWN_STATUS),
    (9, "unit_price", "35.5", AMBIGUOUS),
    (10, "purchased_at", "31/02/2026 10:00", NO_SUCH_DATE),
    (10, "quantity", "abc", "not a whole number"),
    (11, "purchased_at", "", "required value is missing"),
    (12, "discount", "20,00", "discount is larger than the line's amount (1250)"),
    (13, "*", "", "order 1010 is rejected whole: line 14 has problems"),
    (14, "quantity", "x", "not a whole number"),
    (
        18,
        "quantity",
        "-1",
        "return of 1 unit(s) of product 'P3' matches no earlier purchase by this customer",
    ),
    (21, "customer_id", "", NO_IDENTITY),
]


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from create_test_engine(request.param, tmp_path)


def _files(tmp_path: Path, rows: list[str] = ROWS, mapping: str = MAPPING) -> tuple[Path, Path]:
    lines = tmp_path / "vendas.csv"
    lines.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    spec = tmp_path / "mapping.yaml"
    spec.write_text(mapping, encoding="utf-8")
    return lines, spec


def _import(engine: Engine, lines: Path, mapping: Path) -> ImportReport:
    with unit_of_work(engine) as session:
        brand_id = ensure_brand(session, "varejo").id
    return import_mapped_files(engine, load_mapping(mapping), [lines], brand_id=brand_id)


def test_every_case_is_reported_line_by_line(engine: Engine, tmp_path: Path) -> None:
    lines, mapping = _files(tmp_path)
    report = _import(engine, lines, mapping)

    assert [(r.line, r.column, r.value, r.reason) for r in report.rejects] == EXPECTED_REJECTS
    assert {r.file for r in report.rejects} == {"vendas.csv"}
    items = report.counts["order_items"]
    # Lines 2-22 less the two return lines (17, 18): 19 order lines.
    assert (items.read, items.inserted, items.duplicate, items.rejected) == (19, 8, 1, 10)
    returns = report.counts["returns"]
    assert (returns.read, returns.inserted, returns.rejected) == (2, 1, 1)
    assert report.reconciles
    assert report.facts == {
        "returns_matched": 1,
        "returns_unmatched": 1,
        "non_merchandise_lines": 1,
        "zero_price_lines": 1,
        "no_customer_lines": 1,
        "no_customer_revenue_minor": 2500,
        "unreadable_customer_lines": 0,
        "unreadable_customer_revenue_minor": 0,
        "revenue_merchandise_minor": 2 * 1250 + 3000 + 1000 + 500 + 500 + 1250 + 0,
        "revenue_non_merchandise_minor": 1800,
    }

    with unit_of_work(engine, write=False) as session:
        orders = {o.external_id: o for o in session.scalars(select(Order))}
        assert sorted(orders) == ["1001", "1005", "1011", "1012", "1013", "1015"]
        assert orders["1001"].total_minor == 5500  # 2 x 12,50 + 30,00: nothing doubled
        assert orders["1005"].total_minor == 1000  # the duplicate line was not added
        assert all(o.status == "delivered" for o in orders.values())
        products = {p.external_id: p for p in session.scalars(select(Product))}
        assert products["P4"].name == "Nome B"  # the most recent line's name
        assert products["POST"].is_merchandise is False
        assert products["P1"].is_merchandise is True
        (ret,) = session.scalars(select(Return)).all()
        assert (ret.kind, ret.order_id, ret.amount_minor) == (
            "cancellation",
            orders["1001"].id,
            1250,
        )
        (item,) = session.scalars(select(ReturnItem)).all()
        bought = session.get(OrderItem, item.order_item_id)
        assert bought is not None
        assert (bought.order_id, bought.line_number, item.quantity, item.amount_minor) == (
            orders["1001"].id,
            1,
            1,
            1250,
        )
        before = table_counts(session)

    again = _import(engine, lines, mapping)
    with unit_of_work(engine, write=False) as session:
        assert table_counts(session) == before
    for entity, c in again.counts.items():
        assert (c.inserted, c.updated) == (0, 0), entity
    assert [(r.line, r.column) for r in again.rejects] == [(r[0], r[1]) for r in EXPECTED_REJECTS]


def test_a_line_number_column_makes_equal_lines_distinct(tmp_path: Path) -> None:
    rows = [
        "1;1005;07/01/2026 10:00;C3;P3;Vela;1;10,00;;entregue",
        "2;1005;07/01/2026 10:00;C3;P3;Vela;1;10,00;;entregue",
    ]
    lines = tmp_path / "vendas.csv"
    lines.write_text("\n".join(["Linha;" + HEADER, *rows]) + "\n", encoding="utf-8")
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(MAPPING + "  line_number: Linha\n", encoding="utf-8")
    for engine in create_test_engine("sqlite", tmp_path):
        report = _import(engine, lines, mapping)
        assert report.counts["order_items"].inserted == 2
        with unit_of_work(engine, write=False) as session:
            assert session.scalar(select(Order.total_minor)) == 2000


def test_parquet_float_ids_are_the_csv_ids(tmp_path: Path) -> None:
    row = "1001;05/01/2026 10:00;17850;P1;Sabonete;1;12,50;;entregue"
    lines, mapping = _files(tmp_path, [row])
    parquet = tmp_path / "vendas.parquet"
    table = {h: [c] for h, c in zip(HEADER.split(";"), row.split(";"), strict=True)}
    table["Cliente"] = [17850.0]  # what pandas writes for an id column with gaps
    table["Pedido"] = ["1002"]
    pq.write_table(pa.table(table), parquet)
    for engine in create_test_engine("sqlite", tmp_path):
        _import(engine, lines, mapping)
        with unit_of_work(engine) as session:
            brand_id = ensure_brand(session, "varejo").id
        import_mapped_files(engine, load_mapping(mapping), [parquet], brand_id=brand_id)
        with unit_of_work(engine, write=False) as session:
            assert len(session.scalars(select(Customer)).all()) == 1
            ids = set(session.scalars(select(CustomerIdentity.value)))
            assert ids == {"17850"}


def test_a_wrong_delimiter_names_the_columns_found(tmp_path: Path) -> None:
    lines, mapping = _files(
        tmp_path, [ROWS[0]], MAPPING.replace('delimiter: ";"', 'delimiter: ","')
    )
    for engine in create_test_engine("sqlite", tmp_path):
        with pytest.raises(InvalidInput) as error:
            _import(engine, lines, mapping)
        message = str(error.value)
        assert "found 1 column: 'Pedido;Data;Cliente;" in message
        assert "delimiter ','" in message


def test_negative_quantity_is_return_without_a_prefix(tmp_path: Path) -> None:
    rows = [
        "1001;05/01/2026 10:00;C1;P1;Sabonete;3;12,50;;entregue",
        "1002;06/01/2026 10:00;C1;P1;Sabonete;2;12,50;;entregue",
        "1003;07/01/2026 10:00;C1;P1;Sabonete;-3;12,50;;devolvido",
    ]
    mapping = MAPPING.replace('  invoice_prefix: "C"', "  negative_quantity_is_return: true")
    lines, spec = _files(tmp_path, rows, mapping)
    for engine in create_test_engine("sqlite", tmp_path):
        report = _import(engine, lines, spec)
        assert report.rejects == []
        assert report.facts["returns_matched"] == 1
        assert report.facts["negative_quantity_is_return_applied"] == 1
        with unit_of_work(engine, write=False) as session:
            order_of = dict(session.execute(select(Order.id, Order.external_id)).all())
            returned = session.execute(
                select(OrderItem.order_id, ReturnItem.quantity, ReturnItem.amount_minor)
                .join(OrderItem, OrderItem.id == ReturnItem.order_item_id)
                .order_by(OrderItem.order_id)
            ).all()
            stored = session.execute(
                select(Return.order_id, Return.kind, Return.amount_minor).order_by(Return.order_id)
            ).all()
        # Most recent purchase first (1002: 2 units), then 1 of 1001's 3 units.
        assert [(order_of[o], q, a) for o, q, a in returned] == [
            ("1001", 1, 1250),
            ("1002", 2, 2500),
        ]
        assert [(order_of[o], k, a) for o, k, a in stored] == [
            ("1001", "return", 1250),
            ("1002", "return", 2500),
        ]


def test_a_reference_column_names_the_order_a_return_gives_back(tmp_path: Path) -> None:
    rows = [
        ";1001;05/01/2026 10:00;C1;P1;Sabonete;1;12,50;;entregue",
        ";1002;06/01/2026 10:00;C1;P1;Sabonete;1;12,50;;entregue",
        "1001;R1;07/01/2026 10:00;C1;P1;Sabonete;-1;12,50;;devolvido",
    ]
    lines = tmp_path / "vendas.csv"
    lines.write_text("\n".join(["Original;" + HEADER, *rows]) + "\n", encoding="utf-8")
    mapping = tmp_path / "mapping.yaml"
    spec = MAPPING.replace('  invoice_prefix: "C"', "  negative_quantity_is_return: true")
    mapping.write_text(spec + "  original_order_id: Original\n", encoding="utf-8")
    for engine in create_test_engine("sqlite", tmp_path):
        report = _import(engine, lines, mapping)
        assert report.rejects == []
        with unit_of_work(engine, write=False) as session:
            returned = session.execute(
                select(Order.external_id).join(Return, Return.order_id == Order.id)
            ).all()
        # Not the most recent purchase (1002): the one the line names.
        assert returned == [("1001",)]
