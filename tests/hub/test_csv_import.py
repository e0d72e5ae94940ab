"""Generic CSV/Parquet import with a mapping: pt-BR formats, Latin-1, cancellations by
status, invoice-prefix cancellations matched to the purchases they give back, rejects
with line numbers, idempotent re-runs."""

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
from recompra.hub.stats import table_counts
from recompra.models import Customer, CustomerIdentity, Order, OrderItem, Payment, Return

HEADER = "Pedido;Data;Cliente;E-mail;CPF;Nome;Produto;Descrição;Categoria;Qtd;Preço;Frete;Status;Pagamento;Parcelas"  # noqa: E501
ROWS = [
    "1001;05/01/2024 10:30;C1;Maria@Exemplo.com;529.982.247-25;Maria Souza;P1;Sabonete;Beleza & Saúde;2;12,50;5,00;entregue;Cartão;3",  # noqa: E501
    "1001;05/01/2024 10:30;C1;Maria@Exemplo.com;529.982.247-25;Maria Souza;P2;Shampoo;Beleza & Saúde;1;30,00;0;entregue;Cartão;3",  # noqa: E501
    "1002;06/01/2024 11:00;C2;joao@exemplo.com;;João Lima;P3;Cadeira;Móveis;1;1.250,00;50,00;cancelado;boleto;1",  # noqa: E501
    "1003;07/01/2024 12:00;;JOAO@exemplo.com;;;P1;Sabonete;Beleza & Saúde;1;12,50;;pago;pix;1",
    "C1001;08/01/2024 09:00;C1;;;;P1;Sabonete;Beleza & Saúde;-2;12,50;;;;",
    "1004;32/01/2024 12:00;C3;ana@exemplo.com;;Ana;P1;Sabonete;Beleza & Saúde;1;12,50;;;;",
    "1005;09/01/2024 12:00;;;;;P1;Sabonete;Beleza & Saúde;1;12,50;;;;",
    "1006;09/01/2024 12:00;C3;ana@exemplo.com;;Ana;P4;Vaso;Casa;1;abc;;;;",
    "C9999;10/01/2024 08:00;C1;;;;P1;Sabonete;Beleza & Saúde;-1;12,50;;;;",
]
MAPPING = """
source: loja-exemplo
encoding: latin-1
delimiter: ";"
decimal: ","
date_formats: ["%d/%m/%Y %H:%M"]
timezone: America/Sao_Paulo
cancellation:
  statuses: [cancelado]
  invoice_prefix: "C"
columns:
  order_id: Pedido
  purchased_at: Data
  customer_id: Cliente
  email: E-mail
  document: CPF
  customer_name: Nome
  product_id: Produto
  product_name: Descrição
  category: Categoria
  quantity: Qtd
  unit_price: Preço
  freight: Frete
  status: Status
  payment_type: Pagamento
  installments: Parcelas
"""


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from create_test_engine(request.param, tmp_path)


@pytest.fixture
def store_files(tmp_path: Path) -> tuple[Path, Path]:
    lines = tmp_path / "vendas.csv"
    lines.write_bytes(("\n".join([HEADER, *ROWS]) + "\n").encode("latin-1"))
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(MAPPING, encoding="utf-8")
    return lines, mapping


def _import(engine: Engine, lines: Path, mapping: Path):  # type: ignore[no-untyped-def]
    with unit_of_work(engine) as session:
        brand_id = ensure_brand(session, "loja").id
    return import_mapped_files(engine, load_mapping(mapping), [lines], brand_id=brand_id)


def test_mapped_csv_import(engine: Engine, store_files: tuple[Path, Path]) -> None:
    lines, mapping = store_files
    report = _import(engine, lines, mapping)

    problems = {(r.line, r.column): r.reason for r in report.rejects}
    assert problems[(7, "purchased_at")].startswith("not a date/time")  # 1004: day 32
    assert problems[(8, "customer_id")].startswith("no customer identity")  # 1005
    assert problems[(9, "unit_price")] == "not a valid amount"  # 1006: "abc"
    # C9999 gives back a product C1 never bought: a reject, not a made-up canceled order.
    assert problems[(10, "quantity")].startswith("return of 1 unit(s) of product 'P1'")
    assert report.counts["order_items"].rejected == 3
    assert (report.counts["returns"].inserted, report.counts["returns"].rejected) == (1, 1)
    assert report.reconciles

    with unit_of_work(engine, write=False) as session:
        orders = {o.external_id: o for o in session.scalars(select(Order))}
        assert set(orders) == {"1001", "1002", "1003"}
        o1001 = orders["1001"]
        # 2 x 12,50 + 1 x 30,00 = 55,00 of items, 5,00 freight.
        assert (o1001.items_total_minor, o1001.freight_total_minor, o1001.total_minor) == (
            5500,
            500,
            6000,
        )
        assert o1001.status == "delivered"
        # 05/01/2024 10:30 in São Paulo (UTC-3) is 13:30 UTC.
        assert o1001.purchased_at.isoformat() == "2024-01-05T13:30:00+00:00"
        assert orders["1002"].status == "canceled"
        assert orders["1002"].total_minor == 125000 + 5000  # "1.250,00" + "50,00"
        assert orders["1003"].status == "approved"

        # C1001 (prefix "C") gives back C1's 2 units of P1: bought in 1001, line 1.
        (cancel,) = session.scalars(select(Return)).all()
        assert (cancel.kind, cancel.order_id, cancel.amount_minor) == (
            "cancellation",
            o1001.id,
            2500,
        )
        # 1003 has no customer id but João's e-mail (in other letter case): same person.
        assert orders["1003"].customer_id == orders["1002"].customer_id
        assert session.scalar(select(Customer.name).where(Customer.id == o1001.customer_id)) == (
            "Maria Souza"
        )
        emails = set(
            session.scalars(select(CustomerIdentity.value).where(CustomerIdentity.kind == "email"))
        )
        assert emails == {"maria@exemplo.com", "joao@exemplo.com"}
        cpf = session.scalar(select(CustomerIdentity.value).where(CustomerIdentity.kind == "cpf"))
        assert cpf == "52998224725"
        payment = session.scalar(select(Payment).where(Payment.order_id == o1001.id))
        assert payment is not None
        assert (payment.payment_type, payment.installments, payment.amount_minor) == (
            "cartão",
            3,
            6000,
        )
        assert (
            session.scalar(
                select(OrderItem.quantity).where(
                    OrderItem.order_id == o1001.id, OrderItem.line_number == 1
                )
            )
            == 2
        )

    before = _counts(engine)
    again = _import(engine, lines, mapping)
    assert _counts(engine) == before
    for entity, c in again.counts.items():
        assert (c.inserted, c.updated) == (0, 0), entity


def _counts(engine: Engine) -> dict[str, int]:
    with unit_of_work(engine, write=False) as session:
        return table_counts(session)


def test_parquet_input_gives_the_same_store(tmp_path: Path, store_files: tuple[Path, Path]) -> None:
    lines, mapping = store_files
    header = HEADER.split(";")
    columns = list(zip(*(r.split(";") for r in ROWS), strict=True))
    parquet = tmp_path / "vendas.parquet"
    pq.write_table(pa.table({h: list(c) for h, c in zip(header, columns, strict=True)}), parquet)
    results = []
    for source in (lines, parquet):
        gen = create_test_engine("sqlite", tmp_path)
        engine = next(gen)
        report = _import(engine, source, mapping)
        results.append((_counts(engine), len(report.rejects)))
        engine.dispose()
    assert results[0] == results[1]


def test_a_bad_mapping_is_refused_with_the_key(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("source: x\ncolumns: {order_id: A, purchased_at: B, product_id: C}\n")
    with pytest.raises(InvalidInput, match="unit_price"):
        load_mapping(path)
    path.write_text("source: x\ncolums: {}\n")
    with pytest.raises(InvalidInput, match="colums"):
        load_mapping(path)
