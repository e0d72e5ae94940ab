"""Tests of the synthetic store generator: determinism, contract, integrity, statistics."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from recompra.generate import (
    GeneratorConfig,
    expected_repeat_purchases,
    generate_tables,
    generate_to_parquet,
)
from recompra.generate.store import BLOCK_CUSTOMERS
from recompra.snapshot.io import read_table
from recompra.snapshot.schema import SCHEMAS

SMALL = GeneratorConfig(seed=7, n_customers=3_000, n_products=300)


@pytest.fixture(scope="module")
def small() -> dict[str, pa.Table]:
    """A small store with its truth table."""
    return generate_tables(SMALL, truth=True)


@pytest.fixture(scope="module")
def large() -> dict[str, pa.Table]:
    """A store large enough for statistical checks (three random blocks)."""
    return generate_tables(
        GeneratorConfig(seed=11, n_customers=2 * BLOCK_CUSTOMERS + 10_000), truth=True
    )


def test_same_seed_same_tables_other_seed_differs(small: dict[str, pa.Table]) -> None:
    again = generate_tables(SMALL, truth=True)
    for name, table in small.items():
        assert table.equals(again[name]), name
    other = generate_tables(GeneratorConfig(seed=8, n_customers=3_000, n_products=300))
    assert not other["orders"].equals(small["orders"])


def test_schema_conformance(small: dict[str, pa.Table]) -> None:
    for name, schema in SCHEMAS.items():
        assert small[name].schema.equals(schema), name
        assert small[name].num_rows > 0, name


def test_ids_unique_and_referential_integrity(small: dict[str, pa.Table]) -> None:
    orders, items = small["orders"], small["order_items"]
    for name, key in [
        ("customers", "customer_id"),
        ("orders", "order_id"),
        ("products", "product_id"),
        ("categories", "category_id"),
        ("returns", "return_id"),
        ("reviews", "review_id"),
    ]:
        ids = small[name][key].to_numpy()
        assert len(np.unique(ids)) == len(ids), name
    order_ids = orders["order_id"].to_numpy()
    assert np.isin(items["order_id"].to_numpy(), order_ids).all()
    assert np.isin(orders["customer_id"].to_numpy(), small["customers"]["customer_id"]).all()
    assert np.isin(items["product_id"].to_numpy(), small["products"]["product_id"]).all()
    assert np.isin(
        small["products"]["category_id"].to_numpy(), small["categories"]["category_id"]
    ).all()
    for name in ("payments", "returns", "reviews"):
        assert np.isin(small[name]["order_id"].to_numpy(), order_ids).all(), name
    # every order has items; items and payments add up exactly
    o = orders.to_pandas().set_index("order_id")
    item_sum = items.to_pandas().groupby("order_id")["total_minor"].sum()
    assert (item_sum.reindex(o.index) == o["items_total_minor"]).all()
    it = items.to_pandas()
    assert (it["unit_price_minor"] * it["quantity"] == it["total_minor"]).all()
    assert it.groupby("order_id")["line_number"].min().eq(1).all()
    assert it.groupby("order_id").size().between(1, 5).all()
    pay_sum = small["payments"].to_pandas().groupby("order_id")["amount_minor"].sum()
    assert (pay_sum.reindex(o.index) == o["total_minor"]).all()
    assert (
        o["items_total_minor"] + o["freight_total_minor"] - o["discount_total_minor"]
        == o["total_minor"]
    ).all()
    pay = small["payments"].to_pandas()
    assert pay["installments"].between(1, 12).all()
    assert (pay.loc[pay["payment_type"] != "credit_card", "installments"] == 1).all()
    assert set(pay["payment_type"]) == {"credit_card", "boleto", "pix", "debit_card"}
    ret = small["returns"].to_pandas()
    assert (ret["amount_minor"] <= o.loc[ret["order_id"], "total_minor"].to_numpy()).all()
    assert (ret["amount_minor"] >= 0).all()


def test_timestamps_and_statuses_consistent(small: dict[str, pa.Table]) -> None:
    o = small["orders"].to_pandas()
    end = pd_ts(SMALL.end)
    assert (o["purchased_at"] >= pd_ts(SMALL.start)).all()
    assert (o["purchased_at"] < end).all()
    has_app = o["approved_at"].notna()
    assert (o.loc[has_app, "approved_at"] >= o.loc[has_app, "purchased_at"]).all()
    has_del = o["delivered_at"].notna()
    assert (o.loc[has_del, "delivered_at"] >= o.loc[has_del, "approved_at"]).all()
    assert (o.loc[has_del, "delivered_at"] < end).all()
    assert set(o.loc[has_del, "status"]) == {"delivered", "returned"}
    assert o["status"].value_counts(normalize=True)["delivered"] > 0.85
    c = small["customers"].to_pandas().set_index("customer_id")
    first = o.groupby("customer_id")["purchased_at"].min()
    assert (first == c.loc[first.index, "first_seen_at"]).all()
    r = small["reviews"].to_pandas()
    assert r["score"].between(1, 5).all()
    delivered = o.set_index("order_id").loc[r["order_id"], "delivered_at"].reset_index(drop=True)
    assert (r["created_at"].reset_index(drop=True) > delivered).all()


def pd_ts(value: object) -> object:
    """Return ``value`` as a pandas timestamp."""
    import pandas as pd

    return pd.Timestamp(value)


def test_return_and_cancel_rates(large: dict[str, pa.Table]) -> None:
    o = large["orders"].to_pandas()
    ret = large["returns"].to_pandas()
    delivered = o["status"].isin(["delivered", "returned"]).sum()
    rate = (ret["kind"] == "return").sum() / delivered
    assert 0.045 < rate < 0.055
    canceled = o["status"] == "canceled"
    assert 0.01 < canceled.mean() < 0.03
    cancellations = set(ret.loc[ret["kind"] == "cancellation", "order_id"])
    assert cancellations == set(o.loc[canceled, "order_id"])


def test_repeat_purchases_match_bgnbd_expectation(large: dict[str, pa.Table]) -> None:
    cfg_r, cfg_alpha, cfg_a, cfg_b = SMALL.r, SMALL.alpha, SMALL.a, SMALL.b
    truth = large["truth"].to_pandas().set_index("customer_id")
    orders = large["orders"].to_pandas()
    kept = orders[orders["status"] != "canceled"]
    repeats = kept.groupby("customer_id").size() - 1
    assert (repeats.reindex(truth.index) == truth["repeat_purchases"]).all()
    expected = expected_repeat_purchases(
        truth["horizon"].to_numpy(), cfg_r, cfg_alpha, cfg_a, cfg_b
    )
    mean_x, mean_e = float(repeats.mean()), float(expected.mean())
    stderr = float(repeats.std()) / np.sqrt(len(repeats))
    assert abs(mean_x - mean_e) < 4 * stderr + 0.01 * mean_e, (mean_x, mean_e)
    # the truth's parameters follow their mixing distributions
    assert truth["lambda"].mean() == pytest.approx(cfg_r / cfg_alpha, rel=0.05)
    assert truth["p"].mean() == pytest.approx(cfg_a / (cfg_a + cfg_b), rel=0.03)


def test_basket_values_follow_customer_mean_spend(large: dict[str, pa.Table]) -> None:
    truth = large["truth"].to_pandas().set_index("customer_id")
    o = large["orders"].to_pandas()
    ratio = o["items_total_minor"] / truth.loc[o["customer_id"], "mean_spend_minor"].to_numpy()
    assert ratio.mean() == pytest.approx(1.0, abs=0.02)
    assert truth["mean_spend_minor"].mean() == pytest.approx(
        GeneratorConfig().mean_spend * 100, rel=0.05
    )


def test_zipf_popularity_and_cross_sell_structure(large: dict[str, pa.Table]) -> None:
    items = large["order_items"].to_pandas()
    products = large["products"].to_pandas()
    counts = items["product_id"].value_counts()
    top = counts.head(len(products) // 20).sum() / counts.sum()
    assert top > 0.4  # the top 5% of products take a large share of the lines
    # complementary categories co-occur: telefonia orders often hold informatica items
    cats = large["categories"].to_pandas().set_index("slug")["category_id"]
    items["tel"] = items["category_id"] == cats["telefonia"]
    items["info"] = items["category_id"] == cats["informatica_acessorios"]
    per_order = items.groupby("order_id").agg(
        lines=("line_number", "size"), tel=("tel", "any"), info=("info", "any")
    )
    multi = per_order[per_order["lines"] > 1]
    lift = multi.loc[multi["tel"], "info"].mean() / multi["info"].mean()
    assert lift > 1.5


def test_parquet_stream_equals_in_memory_and_is_deterministic(tmp_path: Path) -> None:
    config = GeneratorConfig(seed=3, n_customers=BLOCK_CUSTOMERS + 5_000, n_products=500)
    counts = generate_to_parquet(config, tmp_path / "a", chunk_orders=50_000, truth=True)
    generate_to_parquet(config, tmp_path / "b", chunk_orders=50_000, truth=True)
    memory = generate_tables(config, truth=True)
    parts = sorted((tmp_path / "a" / "orders.parquet").iterdir())
    assert len(parts) >= 2
    for name in SCHEMAS:
        table = read_table(tmp_path / "a", name)
        assert table.equals(memory[name]), name
        assert counts[name] == table.num_rows
        for part in sorted((tmp_path / "a" / f"{name}.parquet").iterdir()):
            twin = tmp_path / "b" / f"{name}.parquet" / part.name
            assert part.read_bytes() == twin.read_bytes(), part
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["row_counts"]["orders"] == memory["orders"].num_rows
    assert manifest["as_of"] == config.end.isoformat()
    with pytest.raises(FileExistsError):
        generate_to_parquet(config, tmp_path / "a")
    assert pc.sum(memory["orders"]["total_minor"]).as_py() > 0


def test_n_orders_target_is_approximately_met() -> None:
    tables = generate_tables(GeneratorConfig(seed=5, n_orders=40_000))
    assert tables["orders"].num_rows == pytest.approx(40_000, rel=0.05)


def test_invalid_config_rejected() -> None:
    with pytest.raises(ValueError, match="return_rate"):
        GeneratorConfig(return_rate=1.5)
    with pytest.raises(ValueError, match="n_categories"):
        generate_tables(GeneratorConfig(n_categories=50, n_products=500))
