"""DuckDB and Spark run the same SQL and return equal co-purchase tables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from _recommend_fixtures import hand_store_tables

from recompra.generate import GeneratorConfig, generate_tables
from recompra.recommend.cooccurrence import CoPurchaseSpec, cooccurrence, tables_equal
from recompra.snapshot.io import write_snapshot


@pytest.fixture
def hand_store() -> dict[str, pa.Table]:
    """The hand-made store of ``_recommend_fixtures.hand_store_tables``."""
    return hand_store_tables()


pytestmark = pytest.mark.spark


def test_spark_equals_duckdb_on_hand_store(spark: Any, hand_store: dict[str, pa.Table]) -> None:
    spec = CoPurchaseSpec(level="category", basket="customer")
    duck = cooccurrence(hand_store, spec)
    sprk = cooccurrence(hand_store, spec, engine="spark", spark=spark)
    assert duck.pairs.num_rows == 1
    assert tables_equal(duck.pairs, sprk.pairs)
    assert tables_equal(duck.rules, sprk.rules)


def test_spark_equals_duckdb_on_generated_snapshot(spark: Any, tmp_path: Path) -> None:
    tables = generate_tables(GeneratorConfig(seed=3, n_orders=4_000))
    snapshot = write_snapshot(tmp_path / "snap", tables)
    spec = CoPurchaseSpec(min_pair_count=2, min_confidence=0.05)
    duck = cooccurrence(snapshot, spec)
    sprk = cooccurrence(snapshot, spec, engine="spark", spark=spark)
    assert duck.pairs.num_rows > 50
    assert duck.rules.num_rows > 0
    assert tables_equal(duck.pairs, sprk.pairs)
    assert tables_equal(duck.rules, sprk.rules)
