"""The CSV importer rejects a bad row with a report and keeps the others (issue 20, 1b)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from dbtest import create_test_engine
from recompra.db import unit_of_work
from recompra.hub.brands import ensure_brand
from recompra.hub.importers.csv_mapping import Mapping, import_mapped_files
from recompra.models import Order

HEADER = "Pedido;Data;Cliente;Produto;Qtd;Preço;Desconto;Frete;Moeda"
ROWS = [
    "g1;05/01/2026 10:00;c1;p1;1;58,90;;;BRL",
    "bad-date;;c2;p1;1;58,90;;;BRL",
    "g2;06/01/2026 10:00;c3;p1;2;10,00;5,00;;BRL",
    "bad-discount;07/01/2026 10:00;c4;p1;1;10,00;10,01;;BRL",
    "bad-freight;07/01/2026 10:00;c5;p1;1;10,00;;46116860184273879,04;BRL",
    "bad-currency;07/01/2026 10:00;c6;p1;1;10,00;;;USD",
    "g3;08/01/2026 10:00;c7;p1;1;10,00;;;",
]
MAPPING = Mapping(
    source="loja",
    delimiter=";",
    decimal=",",
    date_formats=["%d/%m/%Y %H:%M"],
    columns={
        "order_id": "Pedido",
        "purchased_at": "Data",
        "customer_id": "Cliente",
        "product_id": "Produto",
        "quantity": "Qtd",
        "unit_price": "Preço",
        "discount": "Desconto",
        "freight": "Frete",
        "currency": "Moeda",
    },
)


def test_bad_rows_are_reported_and_the_good_ones_stored(tmp_path: Path) -> None:
    lines = tmp_path / "lines.csv"
    lines.write_text("\n".join([HEADER, *ROWS]) + "\n", encoding="utf-8")
    for engine in create_test_engine("sqlite", tmp_path):
        with unit_of_work(engine) as session:
            brand_id = ensure_brand(session, "loja").id
        report = import_mapped_files(engine, MAPPING, [lines], brand_id=brand_id)
        with unit_of_work(engine, write=False) as session:
            stored = list(session.scalars(select(Order.external_id).order_by(Order.external_id)))
    assert stored == ["g1", "g2", "g3"]
    found = sorted((r.line, r.column, r.reason) for r in report.rejects)
    assert found == [
        (3, "purchased_at", "required value is missing"),
        (5, "discount", "discount is larger than the line's amount (1000)"),
        (6, "freight", "must be at most 1000000000000"),
        (7, "currency", "the brand's currency is BRL; convert the amounts before sending them"),
    ]
