"""Batch refresh to Parquet, then the in-memory serving index, and the CLI commands."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from _recommend_fixtures import A, B, C, D, hand_store_tables
from typer.testing import CliRunner

from recompra.cli.main import app
from recompra.generate import GeneratorConfig, generate_tables
from recompra.recommend.flows import refresh
from recompra.recommend.serving import RecommendationIndex
from recompra.snapshot.io import write_snapshot


@pytest.fixture
def hand_store() -> dict[str, pa.Table]:
    """The hand-made store of ``_recommend_fixtures.hand_store_tables``."""
    return hand_store_tables()


def test_refresh_writes_tables_and_index_serves_them(
    tmp_path: Path, hand_store: dict[str, pa.Table]
) -> None:
    out = tmp_path / "reco"
    manifest = refresh(hand_store, out)
    for name in (
        "product_pairs",
        "product_rules",
        "category_pairs",
        "product_customer_pairs",
        "product_fbt",
        "upsell",
        "next_best_offer",
        "popularity",
        "repeat_products",
        "new_item_offers",
    ):
        assert (out / f"{name}.parquet").exists(), name
    # The manifest says which method serves each list, and why.
    choices = manifest["served"]["choices"]
    assert set(choices) == {"new", "any", "cold_start"}
    for choice in choices.values():
        assert choice["method"]
        assert choice["reason"]
    # The snapshot contract always carries the non-merchandise flag (false when the
    # producer had none); the hand store has no stock or active flags: the manifest says so.
    assert manifest["offer_rules"]["catalogue_flags_missing"] == ["active", "in_stock"]
    assert manifest["row_counts"]["product_pairs"] == 4
    # Same-order pairs with lift > 1: only C-D (lift 2); A-B and A-C have lift exactly 1.
    fbt = pq.read_table(out / "product_fbt.parquet").to_pylist()
    assert {(r["anchor"], r["item_id"]) for r in fbt} == {(3, 4), (4, 3)}

    index = RecommendationIndex.load(out)
    together = index.for_product(C)
    assert [s.item_id for s in together] == [4]
    assert (
        together[0].explanation("en")
        == "bought together in 1 order, 2.0x more often than by chance"
    )
    assert index.for_product(999) == []
    offers = index.for_customer(3)  # bought B only, 3 days before the end of the history
    assert offers
    # The store's only re-purchases (A: customer 1 after 1 day, customer 2 after 4) make
    # "just bought" mean within 1.3 days (their 10th percentile): B may be offered again.
    assert manifest["offer_rules"]["just_bought"]["quantile"] == 0.1
    assert B in [s.item_id for s in offers]
    for s in offers:
        assert s.explanation("pt-BR")
        assert s.explanation("en")
    cold = index.for_customer(424242)
    # Distinct buyers: B 3 (customers 1, 2, 3), C 3 (1, 2, 4), A 2 (1, 2), D 1 (4).
    assert [s.item_id for s in cold] == [B, C, A, D]
    assert cold[0].evidence.reason == "popular"


def test_cli_commands(tmp_path: Path) -> None:
    snapshot = write_snapshot(
        tmp_path / "snap", generate_tables(GeneratorConfig(seed=9, n_orders=3_000))
    )
    runner = CliRunner()
    evaluate = ["evaluate", "recommendations", "--snapshot", str(snapshot)]
    result = runner.invoke(app, [*evaluate, "--level", "category", "--k", "5"])
    assert result.exit_code == 0, result.output
    assert "next_best_offer" in result.output
    assert "popularity" in result.output
    assert "served" in result.output
    scripted = runner.invoke(
        app, [*evaluate, "--level", "category", "--k", "5", "--test-fraction", "0.25", "--json"]
    )
    assert scripted.exit_code == 0, scripted.output
    report = json.loads(scripted.output)
    assert report["split"]["test_fraction"] == 0.25
    assert set(report["plan"]["choices"]) == {"new", "any", "cold_start"}
    served = [row for row in report["rows"] if row["model"] == "served"]
    assert {row["items"] for row in served} == {"all", "new", "cold_start"}
    assert {"hit_rate", "precision", "recall", "ndcg", "coverage"} <= set(served[0])
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["recommend", "refresh", "--snapshot", str(snapshot), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert (out / "next_best_offer.parquet").exists()
    bad = runner.invoke(app, [*evaluate, "--level", "brand"])
    assert bad.exit_code != 0
