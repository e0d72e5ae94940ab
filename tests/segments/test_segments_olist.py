"""Three nested segments on the real Olist data, defined through the API and through a
YAML file applied by the CLI; their member counts must equal a pandas computation
written here from the raw CSVs (not from Recompra's tables)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from typer.testing import CliRunner

from dbtest import olist_database
from recompra.api.settings import ApiSettings
from recompra.auth.keys import create_api_key
from recompra.cli.segments import app as segments_cli
from recompra.config import Settings, get_settings
from recompra.db import dispose_engines, unit_of_work
from recompra.models.base import utcnow
from recompra.segments.compile import compile_rule
from recompra.segments.definition import parse_definition
from recompra.segments.full import HubCopy
from recompra.server import create_app

pytestmark = pytest.mark.slow

VIA_API = {
    "key": "sp_rj_valuable_no_bedding",
    "name": {"pt-BR": "SP/RJ valiosos sem cama e banho", "en": "SP/RJ valuable, no bedding"},
    "rule": {
        "all": [
            {"field": "state", "op": "in", "value": ["SP", "RJ"]},
            {
                "any": [
                    {"field": "orders", "op": "gte", "value": 2},
                    {"field": "net_revenue", "op": "gte", "value": 1000.00},
                ]
            },
            {"not": {"field": "bought_category", "op": "in", "value": ["cama_mesa_banho"]}},
        ]
    },
}

VIA_YAML = """\
key: unhappy_or_big_outside_sp
name: {pt-BR: "Insatisfeitos ou ticket alto fora de SP", en: "Unhappy or big baskets outside SP"}
rule:
  all:
    - any:
        - {field: review_score, op: lte, value: 2}
        - {field: aov, op: gte, value: 300.00}
    - {field: last_order_date, op: gte, value: 2018-01-01}
    - not: {field: state, op: eq, value: SP}
---
key: furniture_2017
name: {pt-BR: "Móveis 2017", en: "Furniture 2017"}
rule:
  all:
    - {field: bought_category, op: in, value: [moveis_decoracao, moveis_escritorio]}
    - {field: first_order_date, op: between, value: [2017-01-01, 2017-12-31]}
    - any:
        - {field: orders, op: gte, value: 2}
        - not: {field: state, op: in, value: [SP, RJ, MG]}
"""


@pytest.fixture(scope="module")
def olist_db(
    olist_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Engine, int]]:
    """Olist imported once into a migrated SQLite file: (url, engine, brand id)."""
    url, engine, brand_id = olist_database(olist_dir, tmp_path_factory.mktemp("olist"))
    yield url, engine, brand_id
    engine.dispose()


def _utc(local: pd.Series) -> pd.Series:
    parsed = pd.to_datetime(local)
    return parsed.dt.tz_localize(
        "America/Sao_Paulo", ambiguous=np.ones(len(parsed), dtype=bool), nonexistent="shift_forward"
    ).dt.tz_convert("UTC")


@pytest.fixture(scope="module")
def people(olist_dir: Path) -> pd.DataFrame:
    """One row per person (customer_unique_id) with the facts the rules test."""
    customers = pd.read_csv(olist_dir / "olist_customers_dataset.csv.gz", dtype=str)
    # A person's address is the last non-empty one in file order.
    state = (
        customers.dropna(subset=["customer_state"])
        .groupby("customer_unique_id")["customer_state"]
        .last()
    )
    orders = pd.read_csv(olist_dir / "olist_orders_dataset.csv.gz", dtype=str)
    orders["person"] = orders["customer_id"].map(
        customers.set_index("customer_id")["customer_unique_id"]
    )
    orders["at"] = _utc(orders["order_purchase_timestamp"])
    items = pd.read_csv(olist_dir / "olist_order_items_dataset.csv.gz")
    items["minor"] = (items["price"] * 100).round().astype("int64") + (
        items["freight_value"] * 100
    ).round().astype("int64")
    totals = items.groupby("order_id")["minor"].sum()
    orders["total"] = orders["order_id"].map(totals).fillna(0).astype("int64")
    # Purchases: every status but canceled and unavailable (none of them has a refund).
    purchases = orders[~orders["order_status"].isin(["canceled", "unavailable"])]
    products = pd.read_csv(olist_dir / "olist_products_dataset.csv.gz", dtype=str)
    items["category"] = items["product_id"].map(
        products.set_index("product_id")["product_category_name"]
    )
    bought = items.merge(purchases[["order_id", "person"]], on="order_id")
    reviews = pd.read_csv(olist_dir / "olist_order_reviews_dataset_partial_10k.csv.gz", dtype=str)
    reviews = reviews.drop_duplicates(["review_id", "order_id"])
    reviews = reviews.merge(orders[["order_id", "person"]], on="order_id")
    reviews["score"] = reviews["review_score"].astype(int)

    frame = pd.DataFrame(index=customers["customer_unique_id"].unique())
    frame["state"] = state
    grouped = purchases.groupby("person")
    frame["orders"] = grouped.size()
    frame["orders"] = frame["orders"].fillna(0)
    frame["net"] = grouped["total"].sum()
    frame["net"] = frame["net"].fillna(0)
    frame["aov"] = frame["net"] / frame["orders"].where(frame["orders"] > 0)
    frame["first"] = grouped["at"].min()
    frame["last"] = grouped["at"].max()

    def bought_in(categories: list[str]) -> Any:
        return frame.index.isin(bought.loc[bought["category"].isin(categories), "person"])

    frame["bedding"] = bought_in(["cama_mesa_banho"])
    frame["furniture"] = bought_in(["moveis_decoracao", "moveis_escritorio"])
    frame["unhappy"] = frame.index.isin(reviews.loc[reviews["score"] <= 2, "person"])
    return frame


def expected_counts(p: pd.DataFrame) -> dict[str, int]:
    utc = "UTC"
    via_api = (
        p["state"].isin(["SP", "RJ"])
        & ((p["orders"] >= 2) | (p["net"] >= 100_000))
        & (~p["bedding"])
    )
    outside_sp = (
        (p["unhappy"] | (p["aov"] >= 30_000))
        & (p["last"] >= pd.Timestamp("2018-01-01", tz=utc))
        & ~(p["state"] == "SP")
    )
    furniture = (
        p["furniture"]
        & (p["first"] >= pd.Timestamp("2017-01-01", tz=utc))
        & (p["first"] < pd.Timestamp("2018-01-01", tz=utc))
        & ((p["orders"] >= 2) | ~p["state"].isin(["SP", "RJ", "MG"]))
    )
    return {
        "sp_rj_valuable_no_bedding": int(via_api.sum()),
        "unhappy_or_big_outside_sp": int(outside_sp.sum()),
        "furniture_2017": int(furniture.sum()),
    }


def test_member_counts_equal_an_independent_pandas_computation(
    olist_db: tuple[str, Engine, int],
    people: pd.DataFrame,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, engine, brand_id = olist_db
    expected = expected_counts(people)
    assert all(count > 50 for count in expected.values()), expected  # not vacuous

    with unit_of_work(engine) as session:
        _, admin = create_api_key(session, scopes=["admin"])
    app = create_app(
        engine,
        Settings(home=tmp_path, environment="test"),
        ApiSettings(rate_limit_burst=1000, rate_limit_per_second=1000),
    )
    headers = {"Authorization": f"Bearer {admin}"}
    with TestClient(app) as client:
        created = client.post(
            f"/v1/live-segments?brand_id={brand_id}", json=VIA_API, headers=headers
        )
        assert created.status_code == 201, created.text
        assert created.json()["members"] == expected["sp_rj_valuable_no_bedding"]

    definitions = tmp_path / "segments.yaml"
    definitions.write_text(VIA_YAML, encoding="utf-8")
    monkeypatch.setenv("RECOMPRA_DATABASE_URL", url)
    get_settings.cache_clear()
    try:
        applied = CliRunner().invoke(segments_cli, ["apply", str(definitions), "--brand", "olist"])
        assert applied.exit_code == 0, applied.output
        listed = CliRunner().invoke(segments_cli, ["list", "--brand", "olist"])
        assert listed.exit_code == 0, listed.output
    finally:
        dispose_engines()
        get_settings.cache_clear()
    counts = {line.split("\t")[0]: int(line.split("\t")[2]) for line in listed.output.splitlines()}
    assert counts == expected


def test_full_and_incremental_paths_agree_on_olist(
    olist_db: tuple[str, Engine, int], people: pd.DataFrame
) -> None:
    """Member sets of the three segments: the compiled tree on the hub database (the
    incremental path) and in DuckDB over the hub copy (full evaluation) are the same,
    and their sizes are the pandas counts."""
    _, engine, brand_id = olist_db
    expected = expected_counts(people)
    documents = [VIA_API, *yaml.safe_load_all(VIA_YAML)]
    copy = HubCopy(brand_id)
    with unit_of_work(engine, write=False) as session:
        for document in documents:
            query = compile_rule(parse_definition(document).rule)
            values = query.params(brand_id=brand_id, now=utcnow())
            on_hub = set(session.execute(query.statement, values).scalars())
            in_duckdb = copy.members_of(session.connection(), query, values)
            assert in_duckdb == on_hub
            assert len(on_hub) == expected[document["key"]]
    copy.close()
