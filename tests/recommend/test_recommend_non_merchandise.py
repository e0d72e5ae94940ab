"""Non-merchandise lines (postage, fees) reach the snapshot flagged and are never offered.

The store below ships every order with postage, so postage is the most popular product
and co-occurs with everything: exactly what a recommender would push if the flag were
lost between the importer, the snapshot and the recommender.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
from sqlalchemy import select

from dbtest import create_test_engine
from recompra.db import unit_of_work
from recompra.hub.brands import ensure_brand
from recompra.hub.importers.csv_mapping import import_mapped_files, load_mapping
from recompra.models import Product
from recompra.recommend.flows import refresh
from recompra.snapshot.export import export_snapshot

MAPPING = """
source: loja
delimiter: ";"
decimal: ","
date_formats: ["%d/%m/%Y"]
timezone: UTC
non_merchandise:
  products: [POST]
columns:
  order_id: Pedido
  purchased_at: Data
  customer_id: Cliente
  product_id: Produto
  product_name: Nome
  quantity: Qtd
  unit_price: Preco
"""


def _rows() -> list[str]:
    """Twelve customers, each with two orders of two products plus postage."""
    rows = []
    baskets = [("A", "B"), ("B", "C"), ("A", "C"), ("C", "D")]
    for customer in range(12):
        for visit in range(2):
            order = f"{customer}-{visit}"
            day = f"{(customer % 27) + 1:02d}/0{visit + 1}/2026"
            for product in baskets[(customer + visit) % len(baskets)]:
                rows.append(f"{order};{day};c{customer};{product};Produto {product};1;20,00")
            rows.append(f"{order};{day};c{customer};POST;Postage;1;9,90")
    return rows


def test_postage_is_flagged_in_the_snapshot_and_never_offered(tmp_path: Path) -> None:
    lines = tmp_path / "lines.csv"
    lines.write_text("\n".join(["Pedido;Data;Cliente;Produto;Nome;Qtd;Preco", *_rows()]))
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(MAPPING)
    engine = next(create_test_engine("sqlite", tmp_path))
    with unit_of_work(engine) as session:
        brand_id = ensure_brand(session, "loja").id
    report = import_mapped_files(engine, load_mapping(mapping), [lines], brand_id=brand_id)
    assert report.facts["non_merchandise_lines"] == 24
    with unit_of_work(engine, write=False) as session:
        postage = session.scalar(select(Product.id).where(Product.external_id == "POST"))
    assert postage is not None

    tables = export_snapshot(engine, tmp_path / "snap", brand_id=brand_id)
    flags = dict(
        zip(
            tables["products"].column("product_id").to_pylist(),
            tables["products"].column("non_merchandise").to_pylist(),
            strict=True,
        )
    )
    assert flags[postage] is True
    assert sum(flags.values()) == 1

    out = tmp_path / "recommendations"
    refresh(tmp_path / "snap", out)
    offered = {
        "product_fbt": "item_id",
        "upsell": "candidate",
        "next_best_offer": "item_id",
        "new_item_offers": "item_id",
    }
    for table, column in offered.items():
        items = set(pq.read_table(out / f"{table}.parquet").column(column).to_pylist())
        assert postage not in items, f"postage offered in {table}"
    # The store has offers at all, so the assertion above is not vacuous.
    assert len(pq.read_table(out / "next_best_offer.parquet")) > 0
