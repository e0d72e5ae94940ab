"""Co-purchase statistics and association rules on DuckDB, Spark and (for reference) pandas.

DuckDB and Spark run the same statements from :mod:`recompra.recommend.sql`; pandas is an
independent re-implementation used by the benchmark (side by side) and by the tests (as a
second opinion). All three return the same :class:`CoPurchase` tables.

Two kinds of basket are supported (see ``docs/recommend.md``):

* ``basket="order"``: items bought in the same order. This is "frequently bought
  together", the evidence a product page shows.
* ``basket="customer"``: items bought by the same customer over their whole history. It
  captures complements bought on different days (the printer, then the ink), which is what
  next-best-offer needs to suggest *new* items to a returning customer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from recompra.recommend.sql import (
    LEVEL_COLUMNS,
    PAIR_COLUMNS,
    RULE_COLUMNS,
    BasketKind,
    Level,
    baskets_sql,
    pairs_sql,
    rules_sql,
)
from recompra.snapshot.io import table_path
from recompra.snapshot.schema import NON_PURCHASE_STATUSES

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

#: A snapshot directory, or in-memory snapshot tables by name (``orders``, ``order_items``).
Sources = Path | Mapping[str, pa.Table]

PAIRS_SCHEMA = pa.schema(
    [(c, pa.int64()) for c in PAIR_COLUMNS[:6]] + [(c, pa.float64()) for c in PAIR_COLUMNS[6:]]
)
RULES_SCHEMA = pa.schema(
    [(c, pa.int64()) for c in RULE_COLUMNS[:6]] + [(c, pa.float64()) for c in RULE_COLUMNS[6:]]
)
_INPUT_COLUMNS = {
    "orders": ("order_id", "customer_id", "status"),
    "order_items": ("order_id", "product_id", "category_id"),
}


@dataclass(frozen=True)
class CoPurchase:
    """Co-purchase statistics of one item level and basket kind.

    Attributes
    ----------
    pairs
        Undirected pairs (``item_a < item_b``), columns
        :data:`~recompra.recommend.sql.PAIR_COLUMNS`, in no particular order (sorting
        millions of rows is left to whoever needs it; :func:`tables_equal` sorts).
    rules
        Directed rules ``antecedent -> consequent`` above the thresholds, columns
        :data:`~recompra.recommend.sql.RULE_COLUMNS`, in no particular order.
    level, basket
        What an item and a basket are.
    """

    pairs: pa.Table
    rules: pa.Table
    level: Level
    basket: BasketKind


def _conformed(table: pa.Table, schema: pa.Schema) -> pa.Table:
    return table.select(schema.names).cast(schema)


def _parquet_glob(path: Path) -> str:
    return str(path / "**" / "*.parquet") if path.is_dir() else str(path)


# --------------------------------------------------------------------------- DuckDB


def _register_duckdb(con: duckdb.DuckDBPyConnection, sources: Sources) -> None:
    for name, columns in _INPUT_COLUMNS.items():
        cols = ", ".join(columns)
        if isinstance(sources, Path):
            glob = _parquet_glob(table_path(sources, name)).replace("'", "''")
            con.execute(
                f"CREATE OR REPLACE VIEW {name} AS SELECT {cols} FROM read_parquet('{glob}')"
            )
        else:
            con.register(f"_{name}_src", sources[name].select(list(columns)))
            con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT {cols} FROM _{name}_src")


def cooccurrence_duckdb(
    sources: Sources,
    *,
    level: Level = "product",
    basket: BasketKind = "order",
    min_pair_count: int = 1,
    min_support: float = 0.0,
    min_confidence: float = 0.0,
    threads: int | None = None,
) -> CoPurchase:
    """Compute co-purchase pairs and association rules on DuckDB.

    Parameters
    ----------
    sources
        A snapshot directory or the ``orders`` and ``order_items`` tables.
    level
        ``"product"`` or ``"category"``.
    basket
        ``"order"`` or ``"customer"`` (see the module docstring).
    min_pair_count
        Keep pairs seen together in at least this many baskets.
    min_support, min_confidence
        Thresholds of the association rules (the pairs table is not filtered by them).
    threads
        DuckDB worker threads (default: all cores).

    Returns
    -------
    CoPurchase
        The pairs and rules tables.
    """
    con = duckdb.connect()
    try:
        # Row order is not part of the result; letting DuckDB drop it saves time and memory.
        con.execute("SET preserve_insertion_order = false")
        if threads:
            con.execute(f"SET threads = {int(threads)}")
        _register_duckdb(con, sources)
        con.execute(f"CREATE TEMP TABLE baskets AS {baskets_sql(level, basket)}")
        con.execute(f"CREATE TEMP TABLE pairs AS {pairs_sql(min_pair_count)}")
        pairs = con.sql("SELECT * FROM pairs").to_arrow_table()
        rules = con.sql(rules_sql(min_support, min_confidence)).to_arrow_table()
    finally:
        con.close()
    return CoPurchase(
        pairs=_conformed(pairs, PAIRS_SCHEMA),
        rules=_conformed(rules, RULES_SCHEMA),
        level=level,
        basket=basket,
    )


# --------------------------------------------------------------------------- Spark


def _spark_frame(spark: SparkSession, sources: Sources, name: str) -> DataFrame:
    columns = list(_INPUT_COLUMNS[name])
    if isinstance(sources, Path):
        return spark.read.parquet(str(table_path(sources, name))).select(*columns)
    table = sources[name].select(columns)
    # Through pandas with Arrow enabled; ids are non-null int64 in the snapshot contract.
    frame = spark.createDataFrame(table.to_pandas())
    return frame.select(*columns)


def _spark_to_arrow(frame: DataFrame) -> pa.Table:
    to_arrow = getattr(frame, "toArrow", None)
    if to_arrow is not None:
        result: pa.Table = to_arrow()
        return result
    return pa.Table.from_pandas(frame.toPandas(), preserve_index=False)


def spark_copurchase_frames(
    spark: SparkSession,
    sources: Sources,
    *,
    level: Level = "product",
    basket: BasketKind = "order",
    min_pair_count: int = 1,
    min_support: float = 0.0,
    min_confidence: float = 0.0,
) -> tuple[DataFrame, DataFrame]:
    """Return the (lazy) Spark DataFrames of pairs and rules, for writing at scale.

    Parameters are those of :func:`cooccurrence_spark`. The temporary views ``orders``,
    ``order_items``, ``baskets`` and ``pairs`` are (re)defined in the session.
    """
    for name in _INPUT_COLUMNS:
        _spark_frame(spark, sources, name).createOrReplaceTempView(name)
    spark.sql(baskets_sql(level, basket)).createOrReplaceTempView("baskets")
    pairs = spark.sql(pairs_sql(min_pair_count))
    pairs.createOrReplaceTempView("pairs")
    rules = spark.sql(rules_sql(min_support, min_confidence))
    return pairs, rules


def cooccurrence_spark(
    spark: SparkSession,
    sources: Sources,
    *,
    level: Level = "product",
    basket: BasketKind = "order",
    min_pair_count: int = 1,
    min_support: float = 0.0,
    min_confidence: float = 0.0,
) -> CoPurchase:
    """Compute co-purchase pairs and association rules on Spark (same SQL as DuckDB).

    Parameters
    ----------
    spark
        A session, e.g. from :func:`recompra.engines.spark.get_spark`.
    sources, level, basket, min_pair_count, min_support, min_confidence
        As in :func:`cooccurrence_duckdb`.

    Returns
    -------
    CoPurchase
        The pairs and rules tables, collected to the driver.
    """
    pairs_df, rules_df = spark_copurchase_frames(
        spark,
        sources,
        level=level,
        basket=basket,
        min_pair_count=min_pair_count,
        min_support=min_support,
        min_confidence=min_confidence,
    )
    pairs_df = pairs_df.cache()
    try:
        pairs = _spark_to_arrow(pairs_df)
        rules = _spark_to_arrow(rules_df)
    finally:
        pairs_df.unpersist()
    return CoPurchase(
        pairs=_conformed(pairs, PAIRS_SCHEMA),
        rules=_conformed(rules, RULES_SCHEMA),
        level=level,
        basket=basket,
    )


# --------------------------------------------------------------------------- pandas


def cooccurrence_pandas(
    orders: pd.DataFrame,
    order_items: pd.DataFrame,
    *,
    level: Level = "product",
    basket: BasketKind = "order",
    min_pair_count: int = 1,
    min_support: float = 0.0,
    min_confidence: float = 0.0,
) -> CoPurchase:
    """Compute the same statistics with pandas (an independent reference implementation).

    Parameters
    ----------
    orders, order_items
        Frames with the snapshot columns ``order_id, customer_id, status`` and
        ``order_id, product_id, category_id``.
    level, basket, min_pair_count, min_support, min_confidence
        As in :func:`cooccurrence_duckdb`.

    Returns
    -------
    CoPurchase
        The pairs and rules tables.
    """
    item_col = LEVEL_COLUMNS[level]
    if basket == "order":
        dropped = orders.loc[orders["status"].isin(NON_PURCHASE_STATUSES), "order_id"]
        lines = order_items.loc[~order_items["order_id"].isin(dropped), ["order_id", item_col]]
    else:
        bought = orders.loc[
            ~orders["status"].isin(NON_PURCHASE_STATUSES), ["order_id", "customer_id"]
        ]
        lines = order_items[["order_id", item_col]].merge(bought, on="order_id", how="inner")
    key = "order_id" if basket == "order" else "customer_id"
    baskets = (
        lines[[key, item_col]]
        .dropna()
        .drop_duplicates()
        .rename(columns={key: "basket_id", item_col: "item_id"})
        .astype({"basket_id": "int64", "item_id": "int64"})
    )
    n_baskets = int(baskets["basket_id"].nunique())
    item_counts = baskets.groupby("item_id").size().rename("n_item")
    sizes = baskets.groupby("basket_id")["item_id"].transform("size")
    multi = baskets.loc[sizes > 1]
    joined = multi.merge(multi, on="basket_id", suffixes=("_a", "_b"))
    joined = joined.loc[joined["item_id_a"] < joined["item_id_b"]]
    counts = joined.groupby(["item_id_a", "item_id_b"]).size().rename("n_ab").reset_index()
    counts = counts.loc[counts["n_ab"] >= min_pair_count]
    counts.columns = pd.Index(["item_a", "item_b", "n_ab"])
    n_a = item_counts.reindex(counts["item_a"]).to_numpy(dtype=np.int64)
    n_b = item_counts.reindex(counts["item_b"]).to_numpy(dtype=np.int64)
    n_ab = counts["n_ab"].to_numpy(dtype=np.float64)
    pairs = pd.DataFrame(
        {
            "item_a": counts["item_a"].to_numpy(dtype=np.int64),
            "item_b": counts["item_b"].to_numpy(dtype=np.int64),
            "n_ab": counts["n_ab"].to_numpy(dtype=np.int64),
            "n_a": n_a,
            "n_b": n_b,
            "n_baskets": np.full(len(counts), n_baskets, dtype=np.int64),
            "support": n_ab / n_baskets,
            "confidence_ab": n_ab / n_a,
            "confidence_ba": n_ab / n_b,
            "lift": (n_ab * n_baskets) / (n_a.astype(np.float64) * n_b),
            "cosine": n_ab / np.sqrt(n_a.astype(np.float64) * n_b),
        }
    )
    forward = pairs.rename(
        columns={
            "item_a": "antecedent",
            "item_b": "consequent",
            "n_a": "n_antecedent",
            "n_b": "n_consequent",
            "confidence_ab": "confidence",
            "confidence_ba": "reverse_confidence",
        }
    )
    backward = pairs.rename(
        columns={
            "item_b": "antecedent",
            "item_a": "consequent",
            "n_b": "n_antecedent",
            "n_a": "n_consequent",
            "confidence_ba": "confidence",
            "confidence_ab": "reverse_confidence",
        }
    )
    rules = pd.concat([forward, backward], ignore_index=True)
    rules = rules.loc[(rules["support"] >= min_support) & (rules["confidence"] >= min_confidence)]
    return CoPurchase(
        pairs=_conformed(pa.Table.from_pandas(pairs, preserve_index=False), PAIRS_SCHEMA),
        rules=_conformed(
            pa.Table.from_pandas(rules[list(RULE_COLUMNS)], preserve_index=False), RULES_SCHEMA
        ),
        level=level,
        basket=basket,
    )


def tables_equal(left: pa.Table, right: pa.Table, *, rel_tol: float = 1e-12) -> bool:
    """Return whether two pairs/rules tables hold the same rows (floats to ``rel_tol``).

    Rows are compared after sorting both tables by their first two (key) columns.
    """
    if left.schema != right.schema or left.num_rows != right.num_rows:
        return False
    keys = [(name, "ascending") for name in left.column_names[:2]]
    left, right = left.sort_by(keys), right.sort_by(keys)
    for name in left.column_names:
        a: Any = left.column(name).to_numpy()
        b: Any = right.column(name).to_numpy()
        if np.issubdtype(a.dtype, np.floating):
            if not np.allclose(a, b, rtol=rel_tol, atol=0.0):
                return False
        elif not np.array_equal(a, b):
            return False
    return True
